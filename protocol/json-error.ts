/**
 * A JSON parse error's message without the text it quotes. V8 quotes up to ten characters either side of the fault
 * ("Unexpected token 'x', "...ab"... is not valid JSON"): in a file holding a secret key, or one given by mistake
 * where another was meant, that is part of the secret.
 */
export function jsonErrorUnquoted(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*,?\s*['"].*$/s, '') || 'not valid JSON';
}
