import { ConfigError } from "../../config/settings.js";
import { ApiKeyStore } from "../../http/apiKeys.js";

/**
 * The reviewers' keys (MDE_REVIEW_KEYS_FILE), in the API keys file's format and checked the same way
 * (SHA-256 only on disk, constant-time comparison). A problem names this setting, not the MCP one.
 */
export async function loadReviewerKeys(file: string): Promise<ApiKeyStore> {
  try {
    return await ApiKeyStore.load(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(
      error.problems.map((p) => p.replace(/^MDE_HTTP_API_KEYS_FILE\b/, "MDE_REVIEW_KEYS_FILE")),
    );
  }
}
