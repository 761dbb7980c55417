// Minimal ELF64 (little-endian) reader for the uWS glibc compat step: dynamic symbols, their
// symbol versions (.gnu.version) and the version needs (.gnu.version_r), and a patcher that sets
// VER_FLG_WEAK on chosen version needs. Plain Node ESM, no dependencies (no objdump at runtime).
// Used by scripts/uws-compat.mjs and test/native/uws-compat.test.ts.

export const SHT_STRTAB = 3;
export const SHT_DYNSYM = 11;
export const SHT_GNU_VERNEED = 0x6ffffffe;
export const SHT_GNU_VERSYM = 0x6fffffff;
export const VER_FLG_WEAK = 0x2;
const SHN_UNDEF = 0;

function fail(file, msg) {
  throw new Error(`${file}: not a supported ELF file: ${msg}`);
}

function cstr(buf, off, file) {
  const end = buf.indexOf(0, off);
  if (off >= buf.length || end < 0) fail(file, `string offset ${off} out of range`);
  return buf.toString('latin1', off, end);
}

/**
 * Parses an ELF64 little-endian shared object.
 * @param {Buffer} buf whole file
 * @param {string} [file] for error messages
 * @returns {{
 *   machine: number,
 *   verneed: Array<{ file: string, name: string, index: number, flags: number, weak: boolean, flagsOffset: number }>,
 *   undefinedSymbols: Array<{ name: string, version: string | null, versionFile: string | null }>,
 *   definedSymbols: string[]
 * }}
 * verneed lists every Vernaux entry (one per needed version, e.g. libc.so.6 / GLIBC_2.38);
 * flagsOffset is the file offset of its 16-bit vna_flags. undefinedSymbols are the dynamic
 * symbols the object imports, with the version each one is bound to (null if unversioned);
 * definedSymbols the names of the global/weak dynamic symbols it defines (exports).
 */
export function parseElf(buf, file = '<buffer>') {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) fail(file, 'bad magic');
  if (buf[4] !== 2) fail(file, 'not ELFCLASS64');
  if (buf[5] !== 1) fail(file, 'not little-endian');
  const machine = buf.readUInt16LE(18);
  const shoff = Number(buf.readBigUInt64LE(40));
  const shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60);
  if (shoff === 0 || shnum === 0) fail(file, 'no section headers');
  if (shentsize < 64 || shoff + shnum * shentsize > buf.length) fail(file, 'section headers out of range');

  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    const s = {
      type: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 24)),
      size: Number(buf.readBigUInt64LE(o + 32)),
      link: buf.readUInt32LE(o + 40),
      info: buf.readUInt32LE(o + 44),
      entsize: Number(buf.readBigUInt64LE(o + 56)),
    };
    if (s.type !== 8 /* SHT_NOBITS */ && s.offset + s.size > buf.length) fail(file, `section ${i} out of range`);
    sections.push(s);
  }
  const strtabOf = (s) => {
    const st = sections[s.link];
    if (!st || st.type !== SHT_STRTAB) fail(file, 'section link is not a string table');
    return (off) => cstr(buf, st.offset + off, file);
  };

  // Version needs: Verneed { u16 vn_version, u16 vn_cnt, u32 vn_file, u32 vn_aux, u32 vn_next }
  //                Vernaux { u32 vna_hash, u16 vna_flags, u16 vna_other, u32 vna_name, u32 vna_next }
  const verneed = [];
  const byIndex = new Map();
  const vr = sections.find((s) => s.type === SHT_GNU_VERNEED);
  if (vr) {
    const str = strtabOf(vr);
    let off = vr.offset;
    for (let n = 0; n < Math.max(vr.info, 1) && off + 16 <= vr.offset + vr.size; n++) {
      const cnt = buf.readUInt16LE(off + 2);
      const vnFile = str(buf.readUInt32LE(off + 4));
      let aux = off + buf.readUInt32LE(off + 8);
      for (let j = 0; j < cnt; j++) {
        if (aux + 16 > vr.offset + vr.size) fail(file, 'Vernaux out of range');
        const flags = buf.readUInt16LE(aux + 4);
        const entry = {
          file: vnFile,
          name: str(buf.readUInt32LE(aux + 8)),
          index: buf.readUInt16LE(aux + 6),
          flags,
          weak: (flags & VER_FLG_WEAK) !== 0,
          flagsOffset: aux + 4,
        };
        verneed.push(entry);
        byIndex.set(entry.index, entry);
        const next = buf.readUInt32LE(aux + 12);
        if (next === 0) break;
        aux += next;
      }
      const next = buf.readUInt32LE(off + 12);
      if (next === 0) break;
      off += next;
    }
  }

  // Dynamic symbols: Elf64_Sym { u32 st_name, u8 st_info, u8 st_other, u16 st_shndx, u64 st_value, u64 st_size }
  const undefinedSymbols = [];
  const definedSymbols = [];
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  if (dynsym) {
    const str = strtabOf(dynsym);
    const versym = sections.find((s) => s.type === SHT_GNU_VERSYM);
    const ent = dynsym.entsize || 24;
    const count = Math.floor(dynsym.size / ent);
    for (let i = 1; i < count; i++) {
      const o = dynsym.offset + i * ent;
      const name = str(buf.readUInt32LE(o));
      if (!name) continue;
      if (buf.readUInt16LE(o + 6) !== SHN_UNDEF) {
        const bind = buf[o + 4] >> 4; // STB_GLOBAL = 1, STB_WEAK = 2
        if (bind === 1 || bind === 2) definedSymbols.push(name);
        continue;
      }
      let version = null;
      let versionFile = null;
      if (versym) {
        const idx = buf.readUInt16LE(versym.offset + i * 2) & 0x7fff;
        const need = byIndex.get(idx);
        if (need) {
          version = need.name;
          versionFile = need.file;
        }
      }
      undefinedSymbols.push({ name, version, versionFile });
    }
  }
  return { machine, verneed, undefinedSymbols, definedSymbols };
}

/** Parses "GLIBC_2.38" -> [2, 38]; null if the name is not a GLIBC_x.y[.z] version. */
export function glibcVersionOf(name) {
  const m = /^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$/.exec(name ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/** Compares two version arrays: negative, 0 or positive. */
export function compareVersions(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Parses "2.36" (process.report glibcVersionRuntime) -> [2, 36, 0]. */
export function parseRuntimeGlibc(s) {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(s ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/**
 * Sets VER_FLG_WEAK on every version need of `buf` whose (file, name) matches `predicate`.
 * Mutates buf in place; returns the names of the entries it changed (already weak ones are
 * left as they are and not listed).
 */
export function setWeakVersionNeeds(buf, predicate, file = '<buffer>') {
  const changed = [];
  for (const need of parseElf(buf, file).verneed) {
    if (!predicate(need) || need.weak) continue;
    buf.writeUInt16LE(need.flags | VER_FLG_WEAK, need.flagsOffset);
    changed.push(`${need.file}:${need.name}`);
  }
  return changed;
}
