/** node-gyp-build ships no types: the two calls sockrelay makes. */
declare module 'node-gyp-build' {
  /** Loads the addon that `path(dir)` names. */
  function load(dir: string): unknown;
  namespace load {
    /** The .node file for this platform under `dir`: build/Release first, then prebuilds/. */
    function path(dir: string): string;
  }
  export default load;
}
