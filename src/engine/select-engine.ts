/**
 * `--engine=auto|splice|stream`. auto picks splice when the addon loaded; the
 * reason is kept for the start log, because a silent fallback to the slower
 * engine is exactly what an operator wants to be told about.
 */
import { ConfigError } from '../errors.js';
import type { NativeLoad } from '../native/binding.js';
import { StreamEngine } from './stream-engine.js';
import type { Engine, EngineName, EngineOptions } from './types.js';

export type EngineChoice = 'auto' | EngineName;
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'splice', 'stream'];

export interface SelectedEngine {
  engine: Engine;
  reason: string;
}

export async function selectEngine(
  choice: EngineChoice,
  native: NativeLoad,
  options: EngineOptions,
): Promise<SelectedEngine> {
  const binding = native.binding;
  const spliceAvailable = binding !== null && typeof binding.RelayEngine === 'function';
  if (choice === 'splice' && !spliceAvailable) {
    const why = native.error?.message ?? 'the addon has no splice engine';
    throw new ConfigError('ERR_ENGINE_UNAVAILABLE', `--engine=splice: native engine unavailable (${why})`);
  }
  if (choice !== 'stream' && spliceAvailable) {
    // Loaded lazily: the stream path never needs it.
    const { SpliceEngine } = await import('./splice-engine.js');
    return {
      engine: new SpliceEngine(binding, options),
      reason: choice === 'splice' ? 'requested' : 'native addon loaded',
    };
  }
  const reason =
    choice === 'stream'
      ? 'requested'
      : `native engine unavailable: ${native.error?.message.split('\n')[0] ?? 'addon has no splice engine'}`;
  return { engine: new StreamEngine(options, binding), reason };
}
