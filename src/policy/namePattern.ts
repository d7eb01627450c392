/**
 * A device name pattern of the policy file, compiled once at load: `*` matches any run of characters
 * (dots too), `?` one character, the rest literally, against the whole `computerDnsName`, ignoring
 * case as DNS does. `ws-fin-*` or `*.lab.contoso.com`.
 */
export function compileNamePattern(source: string): RegExp {
  const body = [...source]
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\/]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}$`, "iu");
}
