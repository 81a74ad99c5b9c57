// Annotations the runbooks leave on objects, so that a later run (or another
// person) knows what happened without any local state: the cluster is the
// source of truth.

/** On a token Secret: when regenerate-tokens re-issued its token (RFC 3339). Pods started before it hold the old token. */
export const REGENERATED_AT_ANNOTATION = 'kube-token-runbooks.io/regenerated-at'

/** On a token Secret that replaced a deleted one (clusters before 1.24 rename them): the old name. */
export const REPLACES_ANNOTATION = 'kube-token-runbooks.io/replaces'

/**
 * On a token Secret, next to regenerated-at: the backup directory that holds
 * its copy from before the regeneration (a path on the machine of the run), so
 * a resumed run's report names every directory of the repair.
 */
export const BACKUP_DIR_ANNOTATION = 'kube-token-runbooks.io/backup-dir'
