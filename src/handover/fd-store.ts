/**
 * systemd's fd store, seen from the service: FDSTORE=1 with FDNAME= and the fd
 * as SCM_RIGHTS keeps an fd across a restart; FDSTOREREMOVE=1 drops it again.
 * Available when the unit sets FileDescriptorStoreMax= and we have a
 * NOTIFY_SOCKET to talk to. systemd ≥ 254 tells how many in $FDSTORE; 252 says
 * nothing, so its size is asked at SIGTERM (systemd-job.ts).
 */
import type { NativeBinding } from '../native/binding.js';

export class FdStore {
  constructor(
    private readonly native: Pick<NativeBinding, 'sdNotify'>,
    private readonly socketPath: string,
    /** Most fds the store takes ($FDSTORE); null when systemd did not say (252). */
    readonly capacity: number | null,
  ) {}

  /** The same store, its size now known (asked of systemd). */
  withCapacity(capacity: number): FdStore {
    return new FdStore(this.native, this.socketPath, capacity);
  }

  /** systemd keeps its own copy: the caller may close `fd` afterwards. */
  store(name: string, fd: number): void {
    this.native.sdNotify(this.socketPath, `FDSTORE=1\nFDNAME=${name}`, [fd]);
  }

  remove(name: string): void {
    this.native.sdNotify(this.socketPath, `FDSTOREREMOVE=1\nFDNAME=${name}`);
  }
}

/**
 * The store systemd may offer: null without a NOTIFY_SOCKET (a SIGTERM then drains). Its capacity
 * is $FDSTORE when set; otherwise unknown, as on 252, where a unit with a store does not say so.
 */
export function fdStoreFromEnv(
  env: NodeJS.ProcessEnv,
  native: Pick<NativeBinding, 'sdNotify'> | null,
): FdStore | null {
  const socketPath = env.NOTIFY_SOCKET;
  if (!native || !socketPath) return null;
  const capacity = env.FDSTORE === undefined ? NaN : Number(env.FDSTORE);
  return new FdStore(native, socketPath, Number.isSafeInteger(capacity) && capacity >= 0 ? capacity : null);
}
