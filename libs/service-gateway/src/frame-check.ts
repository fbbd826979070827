import { createLogger, FieldError } from '@flotilla/common';
import { validateData } from '@flotilla/contracts';

const log = createLogger({ service: 'gateway', component: 'chat' });

/** The error frame a client gets for a frame that is not valid. */
export type InvalidFrame = { type: 'error'; code: 'VALIDATION_FAILED'; message: string; fields?: FieldError[] };

/**
 * A chat frame validated against its class, or undefined after sending the client a
 * VALIDATION_FAILED error frame saying why. A frame must never take the process down: whatever the
 * validator chokes on is invalid too.
 */
export function checkFrame<T extends object>(schema: new () => T, raw: unknown, name: string, send: (frame: InvalidFrame) => void): T | undefined {
  let checked: ReturnType<typeof validateData<T>>;
  try {
    checked = validateData(schema, raw);
  } catch (err) {
    log.warn(`${name} frame could not be validated`, { err });
    send({ type: 'error', code: 'VALIDATION_FAILED', message: `invalid ${name} frame` });
    return undefined;
  }
  if (!checked.ok) {
    send({ type: 'error', code: 'VALIDATION_FAILED', message: `invalid ${name} frame`, fields: checked.fields });
    return undefined;
  }
  return checked.value;
}
