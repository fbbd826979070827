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
