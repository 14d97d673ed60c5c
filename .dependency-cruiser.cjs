/**
 * pgdr's layers (README "Architecture"): arrows only point down, and there is no import circle.
 *   faces      api/ cli/ worker/ archive/ (and scripts/, bench/, test/ on top of everything)
 *   control/   workflow inputs, starting procedures, schedules
 *   workflows/ one file per procedure (deterministic: domain/ and types only)
 *   activities/ the two factories and their steps
 *   adapters/  every tool, storage, SQL and host primitive
 *   config/    schema, load, lookup
 *   domain/    pure, workflow-safe judges and names
 */
const layers = ['domain', 'config', 'adapters', 'activities', 'workflows', 'control', 'faces'];
const dirs = {
  domain: '^domain/',
  config: '^config/',
  adapters: '^adapters/',
  activities: '^activities/',
  workflows: '^workflows/',
  control: '^control/',
  faces: '^(api|cli|worker|archive)/',
};
const above = (layer) => layers.slice(layers.indexOf(layer) + 1).map((l) => dirs[l]);

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'an import circle', from: {}, to: { circular: true } },
    ...layers
      .filter((l) => l !== 'faces')
      .map((l) => ({
        name: `${l}-imports-only-down`,
        severity: 'error',
        comment: `${l}/ imports only from the layers below it`,
        from: { path: dirs[l] },
        to: { path: above(l) },
      })),
    {
      name: 'workflows-deterministic',
      severity: 'error',
      comment: 'workflow code imports domain/ and types only (activities and control by type)',
      from: { path: '^workflows/' },
      to: { path: '^(adapters|config)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'workflows-activities-types-only',
      severity: 'error',
      comment: 'workflows see activities only as types',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
