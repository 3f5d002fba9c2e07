/** Policies after validation and normalisation: durations in ms, paths absolute. */

export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

export type RandomBytesGenerator = {
  type: 'random';
  bytes: number; // 16–1024
  encoding: 'base64' | 'base64url' | 'hex';
};

export type RandomPasswordGenerator = {
  type: 'random';
  length: number; // 8–4096
  /** The characters to draw from (a named set already expanded). */
  characters: string;
};

export type CommandGenerator = {
  type: 'command';
  run: string[];
  timeoutMs: number;
};

export type GeneratorSpec = RandomBytesGenerator | RandomPasswordGenerator | CommandGenerator;

export interface LocalStoreSpec {
  type: 'local';
  /** Absolute path of the store file (relative paths resolve against the working directory). */
  path: string;
  /** Entry name inside the store; defaults to the secret's name. */
  key: string;
}

export type StoreSpec = LocalStoreSpec;

export interface EnvironmentPolicy {
  name: string;
  store: StoreSpec;
  source: SourcePosition;
}

export interface SecretPolicy {
  name: string;
  owner: string | null;
  description: string | null;
  interval: string;
  intervalMs: number;
  fallbackWindow: string;
  fallbackWindowMs: number;
  generator: GeneratorSpec;
  environments: EnvironmentPolicy[];
  source: SourcePosition;
}

export interface PolicyProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

export interface LoadedPolicies {
  policies: SecretPolicy[];
  errors: PolicyProblem[];
  warnings: PolicyProblem[];
  files: string[];
}
