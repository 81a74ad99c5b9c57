// The CLI's public face: what a runbook file imports.
export {
  defineCli,
  parseCli,
  readEnvFile,
  envName,
  usageOf,
  allFlags,
  camelCase,
  flagDefaults,
  COMMON_FLAGS,
  type CliSpec,
  type FlagSpec,
  type FlagType,
  type FlagDefault,
  type FlagValue,
  type FlagValues,
  type PositionalSpec,
  type Example,
  type CommonOptions,
  type ParsedCli,
  type ParseResult,
  type ParseInput,
  type ValueSource,
  type Env,
} from './flags.ts'
export { helpText, flagNames, PRECEDENCE, EXIT_CODES, type HelpStep } from './help.ts'
export { runMain, execute, isEntryPoint, formatError, isDebug, defaultRedactor, type Main, type MainIO, type RunMainOptions } from './main.ts'
export {
  loadKubeConfig,
  loadKubeConfigWithSource,
  namespaceScope,
  SERVICE_ACCOUNT_DIR,
  type KubeConfigOptions,
  type KubeConfigSeams,
  type KubeConfigSource,
} from './kube.ts'
export { runbookMain, type RunbookMainOptions, type ContextArgs } from './runbook-main.ts'
