import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const SQL_BY_TAG = {
  selector:
    "CallExpression[callee.property.name='query'] > ObjectExpression > Property[key.name='query'] > TemplateLiteral[expressions.length>0]",
  message: 'Build SQL with the sql`` tag from lib/clickhouse/sql.ts; never interpolate into a plain template.',
};

// V8 passes every spread element as a call argument: past ~100k of them the stack overflows
// (a backlog drain is that large). Tests build small fixtures and may spread.
const NO_ARGUMENT_SPREAD = {
  selector:
    "CallExpression[callee.property.name=/^(push|unshift)$/] > SpreadElement, CallExpression[callee.object.name='Math'][callee.property.name=/^(max|min)$/] > SpreadElement",
  message: 'No spread of an array into call arguments: use pushAll/maxOf/minOf from lib/arrays.ts, or a loop.',
};

export default tseslint.config(
  { ignores: ['node_modules/', '.viewpulse/', 'bench/results/', 'coverage/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', SQL_BY_TAG, NO_ARGUMENT_SPREAD],
    },
  },
  { files: ['test/**'], rules: { 'no-restricted-syntax': ['error', SQL_BY_TAG] } },
);
