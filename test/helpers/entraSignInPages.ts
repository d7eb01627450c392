import { request, type Agent } from "undici";

/**
 * What a browser does on the simulated Entra sign-in pages, one request at a time (redirects are
 * returned, not followed), so a test sees each step: the form, the answer, the redirect back.
 */
export interface Page {
  status: number;
  location: string | undefined;
  text: string;
}

export async function visit(dispatcher: Agent, url: string, form?: Record<string, string>): Promise<Page> {
  const res = await request(url, {
    method: form ? "POST" : "GET",
    dispatcher,
    ...(form
      ? {
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(form).toString(),
        }
      : {}),
  });
  const location = res.headers.location;
  return {
    status: res.statusCode,
    location: typeof location === "string" ? location : undefined,
    text: await res.body.text(),
  };
}

/** The sign-in form's target and flow token; throws when the page has no form. */
export function formOf(page: Page, base: string): { action: string; flowToken: string } {
  const action = /<form method="post" action="([^"]+)"/.exec(page.text)?.[1];
  const flowToken = /name="flowToken" value="([^"]+)"/.exec(page.text)?.[1];
  if (!action || !flowToken) throw new Error(`no sign-in form (HTTP ${page.status})`);
  return { action: new URL(action.replace(/&amp;/g, "&"), base).toString(), flowToken };
}

/** Opens the authorize URL and posts the user's credentials; returns Entra's answer to the post. */
export async function signInAs(
  dispatcher: Agent,
  authorizeUrl: string,
  user: { upn: string; password: string },
): Promise<Page> {
  const page = await visit(dispatcher, authorizeUrl);
  const form = formOf(page, authorizeUrl);
  return visit(dispatcher, form.action, {
    flowToken: form.flowToken,
    login: user.upn,
    passwd: user.password,
    action: "signin",
  });
}
