/**
 * The V8 code cache the launcher runs the bundle with: its file format and its checks.
 *
 * V8 checks a cache's header (its own version, its flags, the source's length, the data's
 * length) but not its data: a release build has `--verify-snapshot-checksum` off, so bytecode
 * damaged in place is deserialized as it is, and node dies of SIGSEGV or SIGTRAP at every start.
 * And V8 knows the source only by its length: a cache made for a different bundle of the same
 * length would be accepted, and V8 would then run bytecode that does not belong to the source it
 * has. So the file carries a CRC-32 of all of itself after the checksum, checked before V8 sees
 * any of it, and a copy of the exact bundle it was made for, compared byte for byte.
 *
 * A CRC, not a digest: what damages a file in place by accident (a bad sector, a copy cut short,
 * a stray write) is what a CRC-32 is made to catch, and a cryptographic digest would guard against
 * nothing more, since whoever can write the cache can write the bundle next to it. zlib's CRC runs
 * in C; node:zlib loads in about half the time node:crypto does, and loading is most of the cost.
 */
import * as zlib from 'node:zlib';

/** "SRCC", a format number, the CRC-32 of everything after it, the bundle's length; then the bundle; then V8's data. */
const MAGIC = 0x43435253;
const FORMAT = 3;
const CHECKSUM_AT = 8;
const CHECKSUMMED_FROM = CHECKSUM_AT + 4;
const HEADER_BYTES = 16;

/** zlib.crc32 came in Node 20.15; without it no cache can be checked, so none is made or used. */
const crc32: ((data: Buffer) => number) | undefined =
  typeof zlib.crc32 === 'function' ? zlib.crc32 : undefined;

/** The cache file for `bundle`: our header, the bundle, then what `script.createCachedData()` made. */
export function encodeCodeCache(bundle: Buffer, v8Data: Buffer): Buffer {
  if (!crc32) throw new Error(`node ${process.version} has no zlib.crc32 to checksum a code cache with`);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(FORMAT, 4);
  header.writeUInt32LE(bundle.length, 12);
  const file = Buffer.concat([header, bundle, v8Data]);
  file.writeUInt32LE(crc32(file.subarray(CHECKSUMMED_FROM)), CHECKSUM_AT);
  return file;
}

export type CacheCheck =
  { data: Buffer } | { why: 'not ours' | 'unverifiable' | 'damaged' | 'made for another bundle' };

/** V8's part of `file` if it is intact and was made for exactly `bundle`; otherwise why it is not used. */
export function checkCodeCache(file: Buffer, bundle: Buffer): CacheCheck {
  if (file.length < HEADER_BYTES || file.readUInt32LE(0) !== MAGIC || file.readUInt32LE(4) !== FORMAT)
    return { why: 'not ours' };
  if (!crc32) return { why: 'unverifiable' };
  if (crc32(file.subarray(CHECKSUMMED_FROM)) !== file.readUInt32LE(CHECKSUM_AT)) return { why: 'damaged' };
  const end = HEADER_BYTES + bundle.length;
  if (
    file.readUInt32LE(12) !== bundle.length ||
    file.length <= end ||
    !file.subarray(HEADER_BYTES, end).equals(bundle)
  )
    return { why: 'made for another bundle' };
  return { data: file.subarray(end) };
}
