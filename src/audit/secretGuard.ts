/**
 * The last check before a record is written: anything that looks like a credential is refused, not
 * redacted, because a record that needed redaction means a caller put the wrong thing in it. Only the
 * field and the kind of secret are named, never the value.
 */
const SECRET_SHAPES: ReadonlyArray<{ what: string; pattern: RegExp }> = [
  { what: "a bearer token", pattern: /\bBearer\s+[A-Za-z0-9._~+/-]{16,}/i },
  { what: "a JWT", pattern: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/ },
  { what: "a SAS signature (sig=)", pattern: /(?:^|[?&;\s])sig=[A-Za-z0-9%+/=_-]{8,}/i },
  { what: "a PEM private key", pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/ },
];

/**
 * Where the first secret-looking string in `value` is, as `field: what`; undefined when none is.
 * `known` are the configured secrets themselves (a client secret has no recognisable shape).
 */
export function findSecret(value: unknown, known: readonly string[] = [], path = ""): string | undefined {
  if (typeof value === "string") {
    if (known.some((secret) => secret.length > 0 && value.includes(secret)))
      return `${path || "(value)"}: a configured secret`;
    const shape = SECRET_SHAPES.find((s) => s.pattern.test(value));
    return shape === undefined ? undefined : `${path || "(value)"}: ${shape.what}`;
  }
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, child] of Object.entries(value)) {
    const found =
      findSecret(key, known, path ? `${path}.${key}` : key) ??
      findSecret(child, known, Array.isArray(value) ? `${path}[${key}]` : path ? `${path}.${key}` : key);
    if (found !== undefined) return found;
  }
  return undefined;
}
