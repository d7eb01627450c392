import { engineError, type EngineError } from "./engineError.js";
import type { LibraryUpload } from "./libraryFileEntity.js";

/**
 * Reads the multipart form of POST /api/libraryfiles (reference §3.7). The docs name the file part
 * `File` and the curl sample `file`, so form field names match case-insensitively. The API docs cap
 * a file at 20 MB (the portal says 250 MB); the simulator enforces the documented API figure.
 */
export const LIBRARY_FILE_MAX_BYTES = 20 * 1024 * 1024;
/** Room for the multipart framing and text fields around a file of the maximum size. */
export const LIBRARY_UPLOAD_MAX_BODY_BYTES = LIBRARY_FILE_MAX_BYTES + 1024 * 1024;

type FormValue = NonNullable<ReturnType<FormData["get"]>>;

export type LibraryUploadForm =
  { ok: true; upload: LibraryUpload; overrideIfExists: boolean } | { ok: false; error: EngineError };

export async function readLibraryUploadForm(
  body: Buffer,
  contentType: string | undefined,
): Promise<LibraryUploadForm> {
  if (!contentType?.toLowerCase().startsWith("multipart/form-data")) {
    return invalid("InvalidRequestBody", "Request body must be multipart/form-data");
  }
  let form: FormData;
  try {
    form = await new Response(body, { headers: { "content-type": contentType } }).formData();
  } catch {
    return invalid("InvalidRequestBody", "Request body is incorrect");
  }
  const field = (name: string): FormValue | undefined =>
    [...form.entries()].find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];

  const file = field("File");
  if (!(file instanceof File)) return invalid("MissingRequiredParameter", "Missing required parameter File");
  if (file.size > LIBRARY_FILE_MAX_BYTES) {
    return invalid(
      "BadRequest",
      `File ${file.name} is larger than the ${LIBRARY_FILE_MAX_BYTES / 1024 / 1024} MB limit`,
    );
  }
  const hasParameters = booleanField("HasParameters", field("HasParameters"));
  const overrideIfExists = booleanField("OverrideIfExists", field("OverrideIfExists"));
  if (typeof hasParameters !== "boolean") return { ok: false, error: hasParameters };
  if (typeof overrideIfExists !== "boolean") return { ok: false, error: overrideIfExists };
  const description = field("Description");
  const parametersDescription = field("ParametersDescription");
  return {
    ok: true,
    overrideIfExists,
    upload: {
      fileName: file.name,
      content: Buffer.from(await file.arrayBuffer()),
      description: typeof description === "string" ? description : null,
      hasParameters,
      ...(typeof parametersDescription === "string" ? { parametersDescription } : {}),
    },
  };
}

function booleanField(name: string, value: FormValue | undefined): boolean | EngineError {
  if (value === undefined) return false;
  if (typeof value === "string" && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
  return engineError(400, "InvalidInput", `Invalid input ${name}: expected true or false`);
}

function invalid(code: string, message: string): { ok: false; error: EngineError } {
  return { ok: false, error: engineError(400, code, message) };
}
