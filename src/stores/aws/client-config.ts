import type { Log } from '../../log.js';

/** Region, endpoint and profile from the CLI (`--region`, `--endpoint-url`, `--profile`), like the AWS CLI's. */
export interface AwsOverrides {
  region?: string;
  endpoint?: string;
  profile?: string;
  /** The part of each quota bucket this run takes (`--shard k/n` → 1/n, `--quota-share`). */
  quotaShare?: number;
}

export interface AwsConnection {
  region: string | null;
  endpoint: string | null;
  profile: string | null;
}

/**
 * SDK client settings. A value in the policy wins, then the CLI option; anything left unset is
 * resolved by the SDK itself from the standard AWS environment (AWS_REGION, AWS_PROFILE,
 * AWS_ENDPOINT_URL[_<SERVICE>], shared config, the default credential chain).
 * Retries are the SDK's adaptive mode: throttling slows the client down instead of failing.
 */
export function clientConfig(connection: AwsConnection, overrides: AwsOverrides, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const region = connection.region ?? overrides.region;
  const endpoint = connection.endpoint ?? overrides.endpoint;
  const profile = connection.profile ?? overrides.profile;
  const timeoutMs = Number(env.KEYSHIFT_AWS_TIMEOUT_MS) || 30_000;
  return {
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(profile ? { profile } : {}),
    retryMode: env.AWS_RETRY_MODE ?? 'adaptive',
    maxAttempts: Number(env.AWS_MAX_ATTEMPTS) || 8,
    // throwOnRequestTimeout: without it this SDK only warns and keeps waiting on a hung connection.
    requestHandler: { connectionTimeout: Math.min(timeoutMs, 10_000), requestTimeout: timeoutMs, throwOnRequestTimeout: true },
  };
}

/**
 * Builds an SDK client without its Node.js support notice on the user's terminal: on Node 20 the
 * SDK warns that releases after January 2027 need Node 22. The versions keyshift pins keep working,
 * so the notice goes to the debug log instead of every run's stderr.
 */
export function quietClient<T>(build: () => T, log: Log): T {
  const variable = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';
  const before = process.env[variable];
  process.env[variable] = 'true';
  try {
    return build();
  } finally {
    if (before === undefined) delete process.env[variable];
    else process.env[variable] = before;
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 22) log.debug({ node: process.version }, 'AWS SDK notice: SDK releases after the first week of January 2027 require Node.js >= 22; keyshift pins a release that supports this Node');
  }
}
