// The OMA download (DLOTA 1.0) status report a device POSTs to a download descriptor's
// installNotifyURI once the content is handled: a body of one line, "<code> <text>". SCOMO's own
// report is the DM Generic Alert; this one tells the download server, which may be a third
// party's, what became of the object it served. Codes (DLOTA §9 [recall]):
//   900 Success · 901 Insufficient memory · 902 User Cancelled · 903 Loss of Service ·
//   905 Attribute mismatch · 906 Invalid descriptor · 952 Device Aborted ·
//   953 Non-Acceptable Content · 954 Loader Error

/** Status line for a SCOMO result code and the job's one-line reason. */
export function dlotaStatus(resultCode: number, reason: string): string {
  switch (resultCode) {
    case 1200: return '900 Success';
    case 1404: return '901 Insufficient memory';
    case 1401: return '902 User Cancelled';
    case 1500: case 1501: return '903 Loss of Service';
    case 1407: return '905 Attribute mismatch';
    case 1402: return reason.indexOf('download descriptor') >= 0 ? '906 Invalid descriptor' : '952 Device Aborted';
    case 1413: return '953 Non-Acceptable Content';
    case 1405: case 1406: return '954 Loader Error';
    default: return '952 Device Aborted';
  }
}
