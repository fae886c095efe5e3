/** `sockrelay units`: prints the generated files, or writes them where systemd and the template look. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { writeAllOrNone } from './write-all-or-none.js';
import { describeOptions } from './option-list.js';
import { generateUnits, type GeneratedFile } from './units-generator.js';

interface UnitsOptions {
  listen?: string[];
  udp?: boolean;
  name?: string;
  onDemand?: string;
  publicFacing?: boolean;
  write?: string;
  confDir?: string;
}

const DEFAULT_UNITS_DIR = '/etc/systemd/system';

export async function runUnitsCommand(
  root: Command,
  backend: string | undefined,
  raw: Record<string, unknown>,
): Promise<number> {
  const options = raw as UnitsOptions;
  const confDir = options.confDir ?? '/etc/sockrelay';
  const files = generateUnits({
    listen: options.listen ?? [],
    udp: options.udp === true,
    name: options.name,
    onDemand: options.onDemand,
    publicFacing: options.publicFacing === true,
    backend,
    // A switch is listed as its default spelled out (off): uncommented as written, it changes nothing.
    reference: describeOptions(root).flatMap(({ envName, defaultText, valueName }) =>
      envName === undefined ? [] : [{ envName, defaultText: valueName === undefined ? 'no' : defaultText }],
    ),
  });
  const where = (file: GeneratedFile, unitsDir: string): string =>
    join(file.place === 'units' ? unitsDir : confDir, file.path);

  if (options.write === undefined) {
    for (const file of files) process.stdout.write(`### ${where(file, DEFAULT_UNITS_DIR)}\n${file.text}\n`);
    return 0;
  }
  const paths = files.map((file) => where(file, options.write!));
  await writeAllOrNone(paths.map((path, i) => ({ path, text: files[i]!.text })));
  for (const path of paths) process.stdout.write(`wrote ${path}\n`);
  const socket = files[0]!.path;
  process.stdout.write(`next: systemctl daemon-reload && systemctl enable --now ${socket}\n`);
  return 0;
}
