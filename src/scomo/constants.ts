// SCOMO 1.0 names and values (facts §1): MO id, alert type, node Status/State values, result
// codes. Plain tables named as the spec names them.

export const SCOMO_MO_ID = 'urn:oma:mo:oma-scomo:1.0';
export const SCOMO_ALERT_TYPE = 'urn:oma:at:scomo:1.0:OperationComplete';
/** Vendor alert type for flow alternative 1 (the device asks the server for a component). */
export const SCOMO_REQUEST_ALERT_TYPE = 'org.openscomo.request-component';

/** Download/<X>/Status */
export const DL_IDLE = 10, DL_DOWNLOAD_FAILED = 20, DL_DOWNLOAD_PROGRESSING = 30, DL_DOWNLOAD_COMPLETE = 40,
  DL_INSTALL_PROGRESSING = 50, DL_INSTALL_FAILED_WITH_DATA = 60, DL_INSTALL_FAILED_WITHOUT_DATA = 70;
/** Inventory/Delivered/<X>/Status */
export const DV_IDLE = 10, DV_REMOVE_FAILED = 20, DV_REMOVE_PROGRESSING = 30, DV_INSTALL_PROGRESSING = 40,
  DV_INSTALL_FAILED_WITH_DATA = 50, DV_INSTALL_FAILED_WITHOUT_DATA = 60;
/** Inventory/Delivered/<X>/State */
export const DV_STATE_DELIVERED = 10, DV_STATE_INSTALLED = 20;
/** Inventory/Deployed/<X>/Status */
export const DP_IDLE = 10, DP_REMOVE_FAILED = 20, DP_REMOVE_PROGRESSING = 30, DP_ACTIVATE_FAILED = 40,
  DP_ACTIVATE_PROGRESSING = 50, DP_DEACTIVATE_FAILED = 60, DP_DEACTIVATE_PROGRESSING = 70;
/** Inventory/Deployed/<X>/State */
export const DP_STATE_INACTIVE = 10, DP_STATE_ACTIVE = 20;

/**
 * Result codes carried in the final alert (facts §1.4). Separate constants rather than one
 * object so that the device bundle inlines the values and ships no table.
 */
export const RC_SUCCESS = 1200,
  RC_CLIENT_ERROR = 1400,
  RC_USER_CANCELLED = 1401,
  RC_DOWNLOAD_FAILED = 1402,
  RC_ALT_DOWNLOAD_AUTH_FAILED = 1403,
  RC_OUT_OF_MEMORY_DOWNLOAD = 1404,
  RC_INSTALL_FAILED = 1405,
  RC_INSTALL_OUT_OF_MEMORY = 1406,
  RC_VALIDATION_FAILED = 1407,
  RC_REMOVE_FAILED = 1408,
  RC_ACTIVATE_FAILED = 1409,
  RC_DEACTIVATE_FAILED = 1410,
  RC_NOT_IMPLEMENTED = 1411,
  RC_UNDEFINED_ERROR = 1412,
  RC_UNSUPPORTED_ENV = 1413,
  /** Vendor range 1450-1499: the server deleted the node of a running job. */
  RC_CANCELLED_BY_SERVER = 1450,
  RC_ALT_SERVER_ERROR = 1500,
  RC_ALT_SERVER_UNAVAILABLE = 1501;

/** The primitives, by the subtree they live in. */
export type Operation =
  | 'Download' | 'DownloadInstall' | 'DownloadInstallInactive'   // Download/<X>/Operations
  | 'Install' | 'InstallInactive' | 'RemoveDelivered'             // Inventory/Delivered/<X>/Operations
  | 'Activate' | 'Deactivate' | 'Remove';                         // Inventory/Deployed/<X>/Operations

export const DOWNLOAD_OPS = ['Download', 'DownloadInstall', 'DownloadInstallInactive'];
export const DELIVERED_OPS = ['Install', 'InstallInactive', 'Remove'];
export const DEPLOYED_OPS = ['Activate', 'Deactivate', 'Remove'];
