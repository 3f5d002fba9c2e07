/** Tamper-evident evidence: the hash-chained log, its verifier, and the crash-recovery lookup. */
export { EvidenceLog, type EvidenceLogOptions } from './writer.js';
export { verifyEvidence, type EvidenceAnchorRef, type VerifyResult } from './verify.js';
export { findLoggedEvents, findLoggedDrafts, loggedKey, isRecordLogged } from './index-events.js';
export { expectedStates, targetKey, type ExpectedState, type ExpectedStates } from './expected-state.js';
export type { CheckpointRef } from './state-checkpoint.js';
export { evidenceFile } from './log-file.js';
export {
  EVIDENCE_EVENTS,
  ZERO_HASH,
  canonicalJson,
  recordHash,
  type EvidenceHead,
  type EvidenceRecord,
} from './record.js';
