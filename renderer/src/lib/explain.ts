// The core's own explanation of evidence (pure, no Node imports), so the app, the CLI and the log
// reader say the same words.
export { explainEvidence, formatMs } from '../../../core/protocol/explain.js'
