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

// The layers (DESIGN.md "Layout"): imports point down the flow only,
//   schemas ← lib ← processors ← runtime ← api ← harness ← cli / bench / tools,
// generator beside them (it knows only schemas and lib, so its truth stays independent);
// infra/ holds only the services; nothing but tests imports test/.
const TOP = [
  'schemas',
  'lib',
  'processors',
  'runtime',
  'api',
  'generator',
  'harness',
  'infra',
  'tools',
  'cli',
  'bench',
  'test',
  'sdk',
];
const layer = (folder, allowed, extra = []) => {
  const banned = TOP.filter((t) => t !== folder && !allowed.includes(t));
  return {
    files: [`${folder}/**/*.{ts,js,mjs}`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${banned.join('|')})(/|$)`,
              message: `${folder}/ must not import ${banned.join(', ')}: imports point down the layers (DESIGN.md "Layout").`,
            },
            ...extra,
          ],
        },
      ],
    },
  };
};
const LAYERS = [
  layer('schemas', []),
  layer('lib', ['schemas']),
  layer(
    'processors',
    ['schemas', 'lib'],
    [
      {
        regex:
          '^(\\.\\./)+lib/(kafka|clickhouse)(/|$)|^(kafkajs|@clickhouse/client|prom-client)$|^(node:)?(fs|fs/promises|http|net|child_process)$',
        message: 'processors/ are pure: no Kafka, ClickHouse, metrics or I/O (the runtime in runtime/ does it).',
      },
    ],
  ),
  layer('runtime', ['schemas', 'lib', 'processors']),
  layer(
    'api',
    ['schemas', 'lib', 'processors'],
    [
      {
        regex: '^(\\.\\./)+processors/(?!semantics\\.js$)',
        message:
          'api/ reads what processors wrote through the shared definitions in processors/semantics.ts, not their internals.',
      },
    ],
  ),
  layer('generator', ['schemas', 'lib']),
  layer('infra', ['schemas', 'lib']),
  // harness/ also drives the player SDK (sdk/, a package of its own) as a client would
  layer('harness', ['schemas', 'lib', 'processors', 'runtime', 'api', 'generator', 'infra', 'sdk']),
  layer('tools', ['schemas', 'lib', 'processors', 'runtime', 'api', 'generator', 'harness', 'infra']),
  layer('cli', ['schemas', 'lib', 'processors', 'runtime', 'api', 'generator', 'harness', 'infra', 'tools']),
  layer('bench', ['schemas', 'lib', 'processors', 'runtime', 'api', 'generator', 'harness', 'infra', 'tools']),
];

export default tseslint.config(
  { ignores: ['node_modules/', '.viewpulse/', 'bench/results/', 'coverage/', '**/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // CommonJS (a module that must load before kafkajs, through Node's require cache)
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', SQL_BY_TAG, NO_ARGUMENT_SPREAD],
    },
  },
  { files: ['test/**'], rules: { 'no-restricted-syntax': ['error', SQL_BY_TAG] } },
  ...LAYERS,
  // The batch reference of the processor tests is written from docs/semantics.md alone.
  {
    files: ['test/unit/processors/reference.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+processors(/|$)',
              message: 'the reference must not reuse processor code: write the rule from docs/semantics.md.',
            },
          ],
        },
      ],
    },
  },
);
