/**
 * The V8 code cache the launcher runs the bundle with: its file format and its checks.
 *
 * V8 rejects a cache made by another V8 version or flag set, or a corrupt one
 * (`script.cachedDataRejected`), but it knows the source only by its length: a cache made for
 * a different bundle of the same length would be accepted, and V8 would then run bytecode that
 * does not belong to the source it has. So the file holds a copy of the exact bundle it was made
 * for, and a cache whose copy differs from the bundle by one byte is never handed to V8. Comparing
 * is one memcmp; a digest would cost more: node:crypto takes longer to load than the cache saves,
 * and a hash loop in JavaScript wakes V8's optimising compiler, which costs megabytes of RSS.
 */

/** "SRCC", a format number and the bundle's length; then the bundle; then V8's data. */
const MAGIC = 0x43435253;
const FORMAT = 2;
const HEADER_BYTES = 12;

/** The cache file for `bundle`: our header, the bundle, then what `script.createCachedData()` made. */
export function encodeCodeCache(bundle: Buffer, v8Data: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(FORMAT, 4);
  header.writeUInt32LE(bundle.length, 8);
  return Buffer.concat([header, bundle, v8Data]);
}

export type CacheCheck = { data: Buffer } | { why: 'not ours' | 'made for another bundle' };

/** V8's part of `file` if it was made for exactly `bundle`; otherwise why it is not used. */
export function checkCodeCache(file: Buffer, bundle: Buffer): CacheCheck {
  if (file.length < HEADER_BYTES || file.readUInt32LE(0) !== MAGIC || file.readUInt32LE(4) !== FORMAT)
    return { why: 'not ours' };
  const end = HEADER_BYTES + bundle.length;
  if (
    file.readUInt32LE(8) !== bundle.length ||
    file.length <= end ||
    !file.subarray(HEADER_BYTES, end).equals(bundle)
  )
    return { why: 'made for another bundle' };
  return { data: file.subarray(end) };
}
