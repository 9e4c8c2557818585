/**
 * Fastify's plugin loader (avvio) calls a callback-style plugin (one that takes `done`) without catching what it
 * throws synchronously: the throw escapes as an uncaught exception instead of failing `register`. @fastify/swagger is
 * such a plugin, and it requires its OpenAPI modules (and `yaml`) only as it registers: a require that fails there (no
 * file descriptor left under a tight open-files limit) killed the start with node's bare EMFILE stack, no start code
 * (about 1 start in 30 at the right descriptor count, measured). Guarded, the throw is the registration's error, which
 * the start names like any other (DATA_DIR_UNUSABLE, "raise ulimit -n").
 */
import type { FastifyPluginCallback } from 'fastify';

/**
 * `plugin` with a synchronous throw handed to `done`. Its own symbol properties (fastify-plugin's skip-override,
 * display name and metadata) are kept, so Fastify registers it as it would `plugin` itself: same name, same
 * encapsulation, same dependency checks.
 */
export function throwsToDone<T extends FastifyPluginCallback<never>>(plugin: T): T {
  const guarded = function (this: unknown, instance: unknown, opts: unknown, done: (err?: Error) => void): void {
    let called = false;
    const once = (err?: Error) => {
      called = true;
      done(err);
    };
    try {
      (plugin as unknown as (i: unknown, o: unknown, d: (err?: Error) => void) => void).call(this, instance, opts, once);
    } catch (err) {
      if (called) throw err; // after its done: not a registration's failure to report twice
      done(err instanceof Error ? err : new Error(String(err)));
    }
  };
  for (const key of Object.getOwnPropertySymbols(plugin)) {
    (guarded as unknown as Record<symbol, unknown>)[key] = (plugin as unknown as Record<symbol, unknown>)[key];
  }
  return guarded as unknown as T;
}
