/**
 * A Node built-in module, loaded when first asked for. `process.getBuiltinModule` (Node >= 20.16)
 * does it without `node:module`, whose own load (with the ES module loader it brings) is about half
 * a millisecond of every start. On an older Node the bundle's CommonJS `require` does it (the
 * bundle is CommonJS, scripts/bundle.js); the unbundled dist/ modules need Node >= 20.16 here.
 */
export function loadBuiltin<T>(id: `node:${string}`): T {
  return (process.getBuiltinModule?.(id) ?? require(id)) as T;
}
