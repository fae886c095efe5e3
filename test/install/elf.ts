/**
 * Just enough of an ELF64 little-endian reader to check a prebuilt addon: the machine it runs on,
 * and the dynamic symbols it defines (what the loader sees: `strip --strip-all` keeps them).
 */
import { readFileSync } from 'node:fs';

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;
const SYMBOL_SIZE = 24;

export interface ElfSummary {
  machine: number;
  /** Names of defined dynamic symbols. */
  exports: Set<string>;
}

function cString(buffer: Buffer, offset: number): string {
  const end = buffer.indexOf(0, offset);
  return buffer.toString('latin1', offset, end < 0 ? buffer.length : end);
}

export function readElf(path: string): ElfSummary {
  const elf = readFileSync(path);
  if (elf.toString('latin1', 0, 4) !== '\x7fELF') throw new Error(`${path}: not an ELF file`);
  if (elf[4] !== 2 || elf[5] !== 1) throw new Error(`${path}: not a 64-bit little-endian ELF`);
  const machine = elf.readUInt16LE(18);
  const sectionsAt = Number(elf.readBigUInt64LE(40));
  const sectionSize = elf.readUInt16LE(58);
  const sectionCount = elf.readUInt16LE(60);
  const section = (index: number) => {
    const at = sectionsAt + index * sectionSize;
    return {
      type: elf.readUInt32LE(at + 4),
      offset: Number(elf.readBigUInt64LE(at + 24)),
      size: Number(elf.readBigUInt64LE(at + 32)),
      link: elf.readUInt32LE(at + 40),
    };
  };
  const exports = new Set<string>();
  for (let i = 0; i < sectionCount; i++) {
    const symbols = section(i);
    if (symbols.type !== SHT_DYNSYM) continue;
    const names = section(symbols.link);
    for (let at = symbols.offset; at + SYMBOL_SIZE <= symbols.offset + symbols.size; at += SYMBOL_SIZE) {
      if (elf.readUInt16LE(at + 6) === SHN_UNDEF) continue;
      exports.add(cString(elf, names.offset + elf.readUInt32LE(at)));
    }
  }
  return { machine, exports };
}
