/**
 * The two pages of the simulated authorization endpoint: the sign-in form a person (or a test with
 * an HTTP client) fills in, and the error page Entra shows when it cannot trust the redirect URI. The
 * form uses Entra's own field names (`login`, `passwd`, `flowToken`). Every value is escaped.
 */
export interface SignInForm {
  /** Where the form is posted. */
  action: string;
  flowToken: string;
  appName: string;
  loginHint?: string;
  /** Shown above the fields after a failed attempt. */
  error?: string;
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export function signInFormHtml(form: SignInForm): string {
  const error = form.error === undefined ? "" : `<p role="alert" id="error">${escapeHtml(form.error)}</p>\n`;
  return page(
    "Sign in to your account",
    `<h1>Sign in</h1>
<p>to continue to ${escapeHtml(form.appName)} (simulated Microsoft Entra ID)</p>
${error}<form method="post" action="${escapeHtml(form.action)}">
<input type="hidden" name="flowToken" value="${escapeHtml(form.flowToken)}">
<label for="login">Email or user name</label>
<input id="login" name="login" type="email" autocomplete="username" required value="${escapeHtml(form.loginHint ?? "")}">
<label for="passwd">Password</label>
<input id="passwd" name="passwd" type="password" autocomplete="current-password" required>
<button type="submit" name="action" value="signin">Sign in</button>
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</form>`,
  );
}

/** Entra's "Sorry, but we're having trouble signing you in" page: the error, and no way onward. */
export function signInErrorHtml(code: string, aadsts: number, message: string): string {
  return page(
    "Sign in error",
    `<h1>Sorry, but we're having trouble signing you in.</h1>
<p role="alert" id="error"><span id="error-code">${escapeHtml(code)}</span>: AADSTS${aadsts}: ${escapeHtml(message)}</p>`,
  );
}
