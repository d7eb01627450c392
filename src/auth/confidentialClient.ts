import { readFile } from "node:fs/promises";
import { ConfidentialClientApplication, LogLevel, type Configuration } from "@azure/msal-node";
import type { Logger } from "../logger.js";
import { loadClientCertificate, type ClientCertificate } from "./certificate.js";
import { isMicrosoftAuthorityHost } from "./clouds.js";
import type { TokenProviderSettings } from "./createTokenProvider.js";
import { AuthenticationError } from "./errors.js";
import type { MsalNetworkClient } from "./msalNetworkClient.js";

/** The app registration's own credential, as msal-node presents it to the identity platform. */
export type MsalCredential =
  | { kind: "secret"; clientSecret: string }
  | { kind: "certificate"; certificate: ClientCertificate; path: string }
  /** Workload identity federation: the file is re-read for every new token, since it is rotated. */
  | { kind: "federated"; tokenFile: string };

/**
 * The credential the settings name, first of secret, certificate (loaded and decrypted now, so a bad
 * file fails at start) and federated token file; undefined when none is set.
 */
export async function msalCredentialOf(settings: TokenProviderSettings): Promise<MsalCredential | undefined> {
  if (settings.clientSecret) return { kind: "secret", clientSecret: settings.clientSecret };
  if (settings.certificatePath) {
    const certificate = await loadClientCertificate(settings.certificatePath, settings.certificatePassword);
    return { kind: "certificate", certificate, path: settings.certificatePath };
  }
  if (settings.federatedTokenFile) return { kind: "federated", tokenFile: settings.federatedTokenFile };
  return undefined;
}

export interface ConfidentialClientOptions {
  tenantId: string;
  clientId: string;
  /** An origin, e.g. https://login.microsoftonline.com or the simulator's https://localhost:port. */
  authorityHost: string;
  credential: MsalCredential;
  network: MsalNetworkClient;
  logger?: Logger;
}

/** One msal-node application for the server's app registration, at any cloud's authority or the simulator. */
export function createConfidentialClient(options: ConfidentialClientOptions): ConfidentialClientApplication {
  const { authorityHost, credential } = options;
  return new ConfidentialClientApplication({
    auth: {
      clientId: options.clientId,
      authority: `${authorityHost}/${options.tenantId}`,
      // Outside Microsoft's clouds MSAL would ask login.microsoftonline.com to validate the host.
      ...(isMicrosoftAuthorityHost(authorityHost) ? {} : { knownAuthorities: [new URL(authorityHost).host] }),
      ...(credential.kind === "secret" ? { clientSecret: credential.clientSecret } : {}),
      ...(credential.kind === "certificate"
        ? {
            clientCertificate: {
              thumbprintSha256: credential.certificate.thumbprintSha256,
              privateKey: credential.certificate.privateKeyPem,
              ...(credential.certificate.x5c ? { x5c: credential.certificate.x5c } : {}),
            },
          }
        : {}),
      ...(credential.kind === "federated"
        ? { clientAssertion: () => readFederatedToken(credential.tokenFile) }
        : {}),
    },
    system: {
      networkClient: options.network,
      ...(options.logger ? { loggerOptions: msalLogger(options.logger) } : {}),
    },
  });
}

async function readFederatedToken(file: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(file, "utf8")).trim();
  } catch (err) {
    throw new AuthenticationError(
      "AUTH_CONFIG",
      `cannot read the federated token file ${file} (${(err as NodeJS.ErrnoException).code ?? "error"}): check AZURE_FEDERATED_TOKEN_FILE`,
    );
  }
  if (token === "") {
    throw new AuthenticationError(
      "AUTH_CONFIG",
      `the federated token file ${file} is empty: check AZURE_FEDERATED_TOKEN_FILE`,
    );
  }
  return token;
}

function msalLogger(logger: Logger): NonNullable<Configuration["system"]>["loggerOptions"] {
  return {
    piiLoggingEnabled: false,
    logLevel: LogLevel.Warning,
    loggerCallback: (level, message) => {
      if (level === LogLevel.Error) logger.error({ msal: message }, "msal-node error");
      else logger.warn({ msal: message }, "msal-node warning");
    },
  };
}
