// UI alerts 1100-1104 (DM 1.2 RepPro §6.6.11; facts §2.3): parse the parameter item and give a
// device without UI a deterministic answer from the server's default response (DR).
import type { Alert } from '../codec/model.js';
import { utf8Decode } from '../codec/utf8.js';
import type { UiAlertAnswer, UiAlertRequest } from './types.js';
import {
  AL_CONFIRM_OR_REJECT, AL_DISPLAY, ST_CANNOT_DISPLAY, ST_NOT_MODIFIED, ST_OK,
} from './codes.js';

function itemText(d: string | Uint8Array | undefined): string {
  if (d === undefined) return '';
  return typeof d === 'string' ? d : utf8Decode(d);
}

export function parseUiAlert(a: Alert): UiAlertRequest {
  const params: { [name: string]: string } = {};
  const first = a.items.length > 0 ? itemText(a.items[0].data) : '';
  const parts = first.split('&');
  for (let i = 0; i < parts.length; i++) {
    const eq = parts[i].indexOf('=');
    if (eq > 0) params[parts[i].slice(0, eq).trim().toUpperCase()] = parts[i].slice(eq + 1);
  }
  const choices: string[] = [];
  for (let i = 2; i < a.items.length; i++) choices.push(itemText(a.items[i].data));
  return { code: a.code || 0, params, text: a.items.length > 1 ? itemText(a.items[1].data) : '', choices };
}

/**
 * No UI: a display is "shown" (logged); a confirmation follows DR (DR=0 rejects, otherwise
 * accepts, as a background-mode device would); inputs and choices answer DR when the server
 * gave one, else 416 because nothing can be displayed.
 */
export function defaultUiAnswer(req: UiAlertRequest): UiAlertAnswer {
  const dr = Object.prototype.hasOwnProperty.call(req.params, 'DR') ? req.params['DR'] : undefined;
  if (req.code === AL_DISPLAY) return { code: ST_OK };
  if (req.code === AL_CONFIRM_OR_REJECT) return { code: dr === '0' ? ST_NOT_MODIFIED : ST_OK };
  if (dr === undefined) return { code: ST_CANNOT_DISPLAY };
  return { code: ST_OK, data: dr.split('-') };
}
