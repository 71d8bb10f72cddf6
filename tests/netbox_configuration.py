"""NetBox configuration for the test suite and the demo; every connection detail comes from NBA_* variables."""

import os

ALLOWED_HOSTS = ['*']

DATABASES = {
    'default': {
        # Set by tests/settings.py (tests/tools/isolation.py): nba_test_<run id> unless given.
        'NAME': os.environ['NBA_DB_NAME'],
        'USER': os.environ.get('NBA_DB_USER', 'postgres'),
        'PASSWORD': os.environ.get('NBA_DB_PASSWORD', ''),
        'HOST': os.environ.get('NBA_DB_HOST', '127.0.0.1'),
        'PORT': os.environ.get('NBA_DB_PORT', '5432'),
        'CONN_MAX_AGE': 0,
    }
}

_REDIS = {
    'HOST': os.environ.get('NBA_REDIS_HOST', '127.0.0.1'),
    'PORT': int(os.environ.get('NBA_REDIS_PORT', '6379')),
    'USERNAME': '',
    'PASSWORD': '',
    'SSL': False,
}
# One Redis database per run, claimed by tests/tools/isolation.py unless NBA_REDIS_DB is given; the
# cache keys carry a per-run prefix (tests/settings.py).
_REDIS_DB = int(os.environ['NBA_REDIS_DB'])
REDIS = {
    'tasks': {**_REDIS, 'DATABASE': _REDIS_DB},
    'caching': {**_REDIS, 'DATABASE': _REDIS_DB},
}

SECRET_KEY = os.environ.get('NBA_SECRET_KEY', 'test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG')
API_TOKEN_PEPPERS = {1: 'test-only-pepper-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789'}
DEBUG = os.environ.get('NBA_DEBUG') == '1'
CENSUS_REPORTING_ENABLED = False
RELEASE_CHECK_URL = None
# No outside connections from the tests or the demo (the dashboard news feed, the release check).
ISOLATED_DEPLOYMENT = True

PLUGINS = ['netbox_authentik']
PLUGINS_CONFIG = {'netbox_authentik': {}}

REMOTE_AUTH_BACKEND = 'netbox_authentik.backends.AuthentikOIDCAuth'
SOCIAL_AUTH_AUTHENTIK_KEY = os.environ.get('NBA_CLIENT_ID', 'netbox')
SOCIAL_AUTH_AUTHENTIK_SECRET = os.environ.get('NBA_CLIENT_SECRET', 'test-client-secret-0123456789abcdef')
SOCIAL_AUTH_AUTHENTIK_OIDC_ENDPOINT = os.environ.get(
    'NBA_OIDC_ENDPOINT', 'https://authentik.example.com/application/o/netbox/'
)

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'console': {'class': 'logging.StreamHandler'}},
    'loggers': {
        'netbox_authentik': {'handlers': ['console'], 'level': os.environ.get('NBA_LOG_LEVEL', 'INFO')},
    },
}
