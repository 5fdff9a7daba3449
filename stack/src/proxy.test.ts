import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { loadStackConfig } from './config';
import { demoProject, writeDemoProxyConfig } from './proxy';

const MONOLITHS = {
  acme: { url: 'http://127.0.0.1:18101', databaseUrl: 'postgresql://postgres@127.0.0.1:54329/monolith_acme' },
  globex: { url: 'http://127.0.0.1:18102', databaseUrl: 'postgresql://postgres@127.0.0.1:54329/monolith_globex' },
};

/** The demo's proxy config as `npm start` wrote it before the demo became a project file: it must not change. */
const BEFORE = {
  "listen": {
    "host": "127.0.0.1",
    "port": 18080
  },
  "admin": {
    "host": "127.0.0.1",
    "port": 18090,
    "tokens": [
      {
        "name": "ops",
        "role": "write",
        "token": {
          "file": "<token file>"
        }
      }
    ]
  },
  "controlStore": {
    "url": {
      "value": "postgresql://postgres@127.0.0.1:54329/strangler_control"
    }
  },
  "tenancy": {
    "byHost": true
  },
  "tenants": {
    "acme": {
      "monolith": "http://127.0.0.1:18101",
      "hosts": [
        "acme.localhost"
      ],
      "database": {
        "value": "postgresql://postgres@127.0.0.1:54329/monolith_acme"
      }
    },
    "globex": {
      "monolith": "http://127.0.0.1:18102",
      "hosts": [
        "globex.localhost"
      ],
      "database": {
        "value": "postgresql://postgres@127.0.0.1:54329/monolith_globex"
      }
    }
  },
  "services": {
    "messaging": {
      "url": "http://127.0.0.1:18201",
      "health": "/healthz",
      "freshness": {
        "path": "/freshness",
        "maxBehindMs": 5000
      },
      "database": {
        "value": "postgresql://postgres@127.0.0.1:54329/extracted_messaging"
      }
    }
  },
  "routes": [
    {
      "id": "message-search",
      "match": {
        "method": "GET",
        "path": "/api/messages/search"
      }
    },
    {
      "id": "rooms-list",
      "match": {
        "method": "GET",
        "path": "/api/rooms"
      },
      "service": "messaging",
      "mode": "monolith"
    },
    {
      "id": "room-create",
      "match": {
        "method": "POST",
        "path": "/api/rooms"
      },
      "service": "messaging",
      "mode": "monolith"
    },
    {
      "id": "room-get",
      "match": {
        "method": "GET",
        "path": "/api/rooms/:id"
      },
      "service": "messaging",
      "mode": "monolith",
      "tenants": {
        "acme": {
          "mode": "shadow"
        }
      },
      "gate": {
        "promote": {
          "minSamples": 100,
          "maxMismatchRate": 0.01,
          "maxErrorRate": 0.01,
          "canarySteps": []
        },
        "rollback": {
          "windowMs": 60000,
          "minSamples": 20,
          "maxMismatchRate": 0.1,
          "maxErrorRate": 0.1
        }
      }
    },
    {
      "id": "room-write",
      "match": {
        "method": [
          "PATCH",
          "DELETE"
        ],
        "path": "/api/rooms/:id"
      },
      "service": "messaging",
      "mode": "monolith"
    },
    {
      "id": "room-members",
      "match": {
        "method": "GET",
        "path": "/api/rooms/:id/members"
      },
      "service": "messaging",
      "mode": "monolith"
    },
    {
      "id": "member-write",
      "match": {
        "method": [
          "PUT",
          "DELETE"
        ],
        "path": "/api/rooms/:id/members/:userId"
      },
      "service": "messaging",
      "mode": "monolith"
    },
    {
      "id": "room-messages",
      "match": {
        "method": "GET",
        "path": "/api/rooms/:id/messages"
      },
      "service": "messaging",
      "mode": "monolith"
    },
    {
      "id": "message-post",
      "match": {
        "method": "POST",
        "path": "/api/rooms/:id/messages"
      },
      "service": "messaging",
      "mode": "monolith"
    },
    {
      "id": "message-get",
      "match": {
        "method": "GET",
        "path": "/api/messages/:id"
      },
      "service": "messaging",
      "mode": "monolith"
    },
    {
      "id": "message-write",
      "match": {
        "method": [
          "PATCH",
          "DELETE"
        ],
        "path": "/api/messages/:id"
      },
      "service": "messaging",
      "mode": "monolith"
    }
  ],
  "domains": {
    "messaging": {
      "service": "messaging",
      "tables": [
        "rooms",
        "room_members",
        "messages"
      ],
      "routes": [
        "rooms-list",
        "room-create",
        "room-get",
        "room-write",
        "room-members",
        "member-write",
        "room-messages",
        "message-post",
        "message-get",
        "message-write"
      ],
      "fence": "enforce"
    }
  },
  "readYourWrites": {},
  "capture": {
    "file": "corpus.jsonl",
    "sampleRate": 0.2,
    "maxPerRoute": 500
  },
  "shadow": {
    "redact": {
      "jsonPaths": [
        "$.email",
        "$.data[*].email"
      ]
    }
  },
  "log": {
    "level": "info",
    "access": true
  },
  "dashboard": {
    "links": [{ "label": "Prometheus (npm start -- --observe)", "url": "http://127.0.0.1:19090/alerts" }],
    "catalogUrl": "http://127.0.0.1:18095"
  }
};

describe("the demo's proxy config, from its project file (stack/demo/strangler.yaml)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-demo-proxy-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is what the stack wrote before, section for section', () => {
    const files = { dir, config: path.join(dir, 'proxy.yaml'), token: path.join(dir, 'admin-token') };
    expect(writeDemoProxyConfig(files, loadStackConfig({}), MONOLITHS, 'postgresql://postgres@127.0.0.1:54329/strangler_control', 'postgresql://postgres@127.0.0.1:54329/extracted_messaging')).toEqual({ written: true });
    const written = YAML.parse(fs.readFileSync(files.config, 'utf8'));
    expect(written.admin.tokens[0].token.file).toBe(files.token);
    written.admin.tokens[0].token.file = '<token file>';
    expect(written).toEqual(BEFORE);
  });

  it("runs the stack's tenants on its ports, the file's tenants standing for them in order", () => {
    const config = loadStackConfig({ tenants: ['initech'], ports: { ...loadStackConfig({}).ports, extractedBase: 28201 } });
    const p = demoProject(config, { initech: { url: 'http://127.0.0.1:28101', databaseUrl: 'postgresql://postgres@127.0.0.1:54329/monolith_initech' } }, 'postgresql://postgres@127.0.0.1:54329/extracted_messaging');
    expect(Object.keys(p.project.tenants)).toEqual(['initech']);
    expect(p.project.services.messaging!.url).toBe('http://127.0.0.1:28201');
    // room-get is shadowed for acme in the file: for the first tenant the stack runs.
    expect((p.routes.find((r) => (r as { id: string }).id === 'room-get') as { tenants: unknown }).tenants).toEqual({ initech: { mode: 'shadow' } });
  });
});
