/** Whether a MongoDB write failed on a unique index (E11000): the document it wanted is already there. */
export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}

/**
 * Two concurrent upserts of the same key can both miss and both insert; the unique index rejects
 * the second with E11000. The document exists either way, which is all an idempotent write wants.
 */
export async function ignoreDuplicate(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
}

/**
 * The bulk form of `ignoreDuplicate`, for an unordered bulk write of idempotent inserts/upserts:
 * every other operation was still applied (ordered: false), and an error whose write errors are all
 * E11000 means the documents they wanted are there. Any other write error fails the whole call
 * (retrying the batch is safe: what landed is skipped the second time).
 */
export async function ignoreDuplicates(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (err) {
    const errors = writeErrorsOf(err);
    if (errors.length === 0 || !errors.every(isDuplicateKey)) throw err;
  }
}

/**
 * The per-document errors of a failed bulk write (`index`: the operation's position in the bulk), or
 * the error itself when the driver threw a single one.
 */
export function writeErrorsOf(err: unknown): { code?: unknown; index?: number }[] {
  const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
  return (Array.isArray(writeErrors) ? writeErrors : writeErrors === undefined ? [err] : [writeErrors]) as { code?: unknown; index?: number }[];
}
