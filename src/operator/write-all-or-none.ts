/**
 * Writing a proxy's files as one change. A socket unit without its conf, or a drop-in that requires
 * a backend whose own drop-in is missing, is a half-installed proxy that systemd will still start.
 * So every file is first written under a temporary name next to its place (a name systemd does not
 * load: it starts with a dot and ends in neither .socket, .service nor .conf), and only when all are
 * written are they renamed into place, each rename atomic. Should one step fail, what was done is
 * undone: files already in place get their old text back, temporary files and the directories made
 * for them are removed, and the error says which path failed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StartupError } from '../errors.js';

export interface FileToWrite {
  path: string;
  text: string;
}

function failure(path: string, err: unknown): StartupError {
  return new StartupError('ERR_WRITE_UNITS', `units: cannot write ${path}: ${(err as Error).message}`, {
    cause: err,
  });
}

/** Directories from `dir` up that do not exist yet, deepest first, after making them all. */
async function makeDirectory(dir: string): Promise<string[]> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return [];
  const made: string[] = [];
  for (let d = dir; d.length >= first.length; d = dirname(d)) made.push(d);
  return made;
}

export async function writeAllOrNone(files: readonly FileToWrite[]): Promise<void> {
  const tag = randomBytes(6).toString('hex');
  const madeDirs: string[] = [];
  const staged: Array<{ path: string; temp: string; old: string | undefined }> = [];
  const placed: typeof staged = [];
  const undo = async (): Promise<void> => {
    for (const { path, old } of placed.reverse())
      await (old === undefined ? rm(path, { force: true }) : writeFile(path, old)).catch(() => undefined);
    for (const { temp } of staged) await rm(temp, { force: true }).catch(() => undefined);
    for (const dir of madeDirs) await rmdir(dir).catch(() => undefined);
  };
  let current = '';
  try {
    for (const file of files) {
      current = file.path;
      madeDirs.unshift(...(await makeDirectory(dirname(file.path))));
      const temp = join(dirname(file.path), `.${basename(file.path)}.${tag}.tmp`);
      const old = await readFile(file.path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      staged.push({ path: file.path, temp, old });
      await writeFile(temp, file.text, { flag: 'wx' });
    }
    for (const entry of staged) {
      current = entry.path;
      await rename(entry.temp, entry.path);
      placed.push(entry);
    }
  } catch (err) {
    await undo();
    throw failure(current, err);
  }
}
