// Every literal the embed uses, in one place (see STYLE.md, vanilla-cookieconsent).
// Keys that are persisted or sent over the wire never start with "_": those are mangled by
// the minifier and would change from build to build.

/** Receipt methods (docs/contracts.md): values are only ever added. */
export const M_ACCEPT = 'accept_all';
export const M_REJECT = 'reject_all';
export const M_CUSTOM = 'custom';
export const M_WITHDRAW = 'withdraw';
export const M_GPC = 'gpc';

export const LAYER_FIRST = 'first';
export const LAYER_SECOND = 'second';

/** Defaults for options the published config may leave out. */
export const DEFAULT_COOKIE = 'cmp_consent';
export const DEFAULT_LIFETIME_DAYS = 180;
export const DEFAULT_LANGUAGE = 'en';
export const DAY_SECONDS = 86400;

/** localStorage key (suffixed with the site key) of receipts waiting to be sent. */
export const QUEUE_KEY = 'cmp_receipts_';
export const QUEUE_MAX = 20;
export const QUEUE_MAX_AGE_MS = 30 * DAY_SECONDS * 1000;
export const QUEUE_MAX_TRIES = 20;
/** HTTP status that means "keep it queued and resend later" (contracts.md). */
export const STATUS_RETRY = 503;

export const API_PREFIX = '/v1/sites/';
export const API_CONSENTS = '/consents';
export const CONTENT_TYPE = 'text/plain;charset=UTF-8';

/** DOM hooks on the host page. */
export const ATTR_CATEGORY = 'data-cmp-category';
export const ATTR_SRC = 'data-cmp-src';
export const ATTR_TYPE = 'data-cmp-type';
export const ATTR_OPEN = 'data-cmp-open';
export const ATTR_DECLARATION = 'data-cmp-declaration';
export const ATTR_PLACEHOLDER = 'data-cmp-placeholder';
export const SEL_SCRIPT = 'script[type="text/plain"][' + ATTR_CATEGORY + ']';
export const SEL_IFRAME = 'iframe[' + ATTR_SRC + '][' + ATTR_CATEGORY + ']';
export const SEL_OPEN = '[' + ATTR_OPEN + ']';
export const SEL_DECLARATION = '[' + ATTR_DECLARATION + ']';
export const ATTR_STATE = 'data-cmp-state';
export const SEL_STATE = SEL_DECLARATION + ' [' + ATTR_STATE + ']';
export const JS_TYPE = 'text/javascript';
export const HOST_TAG = 'cmp-banner';

/** Integrator events. */
export const EVENT_CHANGE = 'change';
export const DOM_EVENT = 'cmp:consent';
export const DATALAYER_EVENT = 'cmp_consent_update';
export const DATALAYER_READY = 'cmp_consent_ready';

/** Google Consent Mode v2: the seven consent types. */
export const CM_TYPES = [
  'ad_storage', 'ad_user_data', 'ad_personalization', 'analytics_storage',
  'functionality_storage', 'personalization_storage', 'security_storage',
];
export const CM_GRANTED = 'granted';
export const CM_DENIED = 'denied';
export const CM_CONSENT = 'consent';
export const CM_DEFAULT = 'default';
export const CM_UPDATE = 'update';
export const CM_SET = 'set';
export const CM_WAIT = 'wait_for_update';
export const CM_REGION = 'region';
export const CM_REDACTION = 'ads_data_redaction';
export const CM_PASSTHROUGH = 'url_passthrough';
export const CM_DEFAULT_WAIT = 500;

/** Storage kinds of inventory items (contracts.md `cookies[].kind`). */
export const KIND_COOKIE = 'cookie';
export const KIND_LOCAL = 'localStorage';
export const KIND_SESSION = 'sessionStorage';
export const KIND_IDB = 'indexedDB';
export const MATCH_PREFIX = 'prefix';

/** Only these placeholders are substituted in texts; texts are always set as text. */
export const PURPOSE_VAR = '{purpose}';

/** Automatic blocking (contracts.md `blocking`): the report-only mode, the type a held script
 * gets (not a JavaScript type: the browser leaves it alone), and what `cmp.blocked()` lists. */
export const MODE_REPORT = 'report';
export const BLOCKED_TYPE = 'javascript/blocked';
export const SEL_AUTO = 'script[src],iframe[src],img[src]';
export const T_SCRIPT = 'script';
export const T_IFRAME = 'iframe';
export const T_IMG = 'img';
export const T_BEACON = 'beacon';
export const T_FETCH = 'fetch';
export const T_XHR = 'xhr';
export const S_HELD = 'held';
export const S_RELEASED = 'released';
export const S_DROPPED = 'dropped';
export const S_REPORTED = 'reported';
