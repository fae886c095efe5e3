/**
 * The metrics as a file for node_exporter's textfile collector, and the way back in.
 *
 * sockrelay is not running most of the time, so an HTTP endpoint alone leaves gaps; the file
 * stays. node_exporter reads it whenever it is scraped, possibly in the middle of our write, so
 * the file is never written in place: the text goes to a hidden temporary file in the same
 * directory (same file system, so rename(2) is atomic; no `.prom` suffix, so the collector never
 * picks it up), is fsynced, and then renamed over the old file. A reader sees the old file or the
 * new one, whole.
 *
 * At start the file is read back to continue the counters (see carried-over.ts). A missing,
 * unreadable or malformed file costs the continuity of the counters, never the proxy: it is
 * logged and the counters start from zero.
 */
import { readFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { CarriedOver } from './carried-over.js';

/** How often the file is rewritten while running; node_exporter's usual scrape interval. */
export const TEXTFILE_INTERVAL_MS = 15_000;

/** Readable by node_exporter, which usually runs as another user. */
const FILE_MODE = 0o644;

export function readCarriedOver(path: string, logger: Logger): CarriedOver {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    // No file yet is how every first activation starts: nothing to warn about.
    if (code === 'ENOENT') logger.info({ path }, 'no metrics textfile yet: counters start from zero');
    else logger.warn({ path, code }, 'metrics textfile unreadable: counters start from zero');
    return CarriedOver.empty();
  }
  try {
    const carried = CarriedOver.fromText(text);
    logger.debug({ path, series: carried.seriesCount }, 'metrics textfile read: counters continue');
    return carried;
  } catch (err) {
    logger.warn(
      { path, code: errnoCode(err), why: err instanceof Error ? err.message : String(err) },
      'metrics textfile malformed: counters start from zero',
    );
    return CarriedOver.empty();
  }
}

/** Replaces `path` with `text` so that no reader ever sees a partial file. */
export async function writeFileAtomically(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const handle = await open(temporary, 'w', FILE_MODE);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (err) {
    await unlink(temporary).catch(() => undefined);
    throw err;
  }
}

/**
 * Rewrites the textfile every `intervalMs` and on flush(). Writes never overlap: a tick that
 * finds one still running is skipped, a flush waits for it and then writes the newest values.
 * The timer is unref'd: the file is no reason for the daemon to stay up.
 */
export class TextfileWriter {
  private timer: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  private writing = false;

  constructor(
    readonly path: string,
    private readonly render: () => Promise<string>,
    private readonly logger: Logger,
    private readonly intervalMs = TEXTFILE_INTERVAL_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.writing) void this.flush();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Writes the current values now; resolves once written (or the failure logged). Never rejects. */
  flush(): Promise<void> {
    this.queue = this.queue.then(() => this.writeOnce());
    return this.queue;
  }

  /** Stops the timer and writes one last time. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  private async writeOnce(): Promise<void> {
    this.writing = true;
    try {
      await writeFileAtomically(this.path, await this.render());
    } catch (err) {
      this.logger.warn({ path: this.path, code: errnoCode(err) }, 'metrics textfile not written');
    } finally {
      this.writing = false;
    }
  }
}
