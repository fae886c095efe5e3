/**
 * Where sockrelay's own files are (package.json, native/), found from this module's URL.
 *
 * This module sits directly under src/, so it is one level below the package root in every form
 * sockrelay runs in: src/*.ts (tests), dist/*.js (tsc's output, the library) and dist/sockrelay.cjs
 * (the bundle users run, where the build defines import.meta.url as the bundle's own URL: see
 * src/packaging/bundle.mjs). A module deeper down must not resolve package files itself.
 */
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = fileURLToPath(new URL('../', import.meta.url));
