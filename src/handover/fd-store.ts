/**
 * systemd's fd store, seen from the service: FDSTORE=1 with FDNAME= and the fd
 * as SCM_RIGHTS keeps an fd across a restart; FDSTOREREMOVE=1 drops it again.
 * Available when the unit sets FileDescriptorStoreMax= (systemd ≥ 254 tells us
 * how many in $FDSTORE) and we have a NOTIFY_SOCKET to talk to.
 */
import type { NativeBinding } from '../native/binding.js';

export class FdStore {
  constructor(
    private readonly native: Pick<NativeBinding, 'sdNotify'>,
    private readonly socketPath: string,
    /** Most fds the store takes ($FDSTORE). */
    readonly capacity: number,
  ) {}

  /** systemd keeps its own copy: the caller may close `fd` afterwards. */
  store(name: string, fd: number): void {
    this.native.sdNotify(this.socketPath, `FDSTORE=1\nFDNAME=${name}`, [fd]);
  }

  remove(name: string): void {
    this.native.sdNotify(this.socketPath, `FDSTOREREMOVE=1\nFDNAME=${name}`);
  }
}

/** The store, when the environment offers one; null otherwise (a SIGTERM then drains). */
export function fdStoreFromEnv(
  env: NodeJS.ProcessEnv,
  native: Pick<NativeBinding, 'sdNotify'> | null,
): FdStore | null {
  const capacity = Number(env.FDSTORE);
  const socketPath = env.NOTIFY_SOCKET;
  if (!native || !socketPath || !Number.isSafeInteger(capacity) || capacity <= 0) return null;
  return new FdStore(native, socketPath, capacity);
}
