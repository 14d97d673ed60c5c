// @ts-check
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox: it may not touch Node built-ins,
// the database driver, subprocesses or the AWS SDK. Shared types under domain/ are imported
// by workflows, so the same rule holds there.
const forbiddenInWorkflows = [
  {
    group: ['node:*', 'fs', 'fs/*', 'path', 'os', 'child_process', 'crypto', 'http', 'https', 'net', 'stream', 'url', 'util'],
    message: 'workflows must stay deterministic: no Node built-ins (use an activity)',
  },
  {
    group: ['pg', 'pg/*', 'execa', '@aws-sdk/*', '@temporalio/worker', '@temporalio/client', '@temporalio/activity'],
    message: 'workflows call I/O only through activities',
  },
  {
    group: ['../activities/*', '../config/*', '../worker/*', '../api/*'],
    allowTypeImports: true,
    message: 'workflows import activity and config types only',
  },
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.pgdr-stack/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests poke at JSON answers; typing every body would add noise, not safety.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: forbiddenInWorkflows }] },
  },
);
