/*
 * template: parse, validate and compile a template.
 *
 * Loading runs in stages, each stopping at the first error:
 *   1. prescan(): a cheap pass over the XML bytes that enforces the plist
 *      grammar libplist 2.2 is lax about (it silently turns "<integer>abc"
 *      into 0, drops a key without a value, keeps only the last of two
 *      equal keys) and bounds size and nesting before libplist's recursive
 *      parser sees the input;
 *   2. plist_from_xml();
 *   3. compile(): mirror the tree in pf_tnode nodes, splitting strings into
 *      placeholder segments;
 *   4. check_*(): Apple's schema facts for the top level, every payload,
 *      and the SCEP, certificate, Wi-Fi and VPN payloads;
 *   5. wiring and {{challenge}} placement.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <plist/plist.h>

#include "error.h"
#include "template.h"
#include "template_impl.h"
#include "util.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Schema facts, from Apple's device-management schema (TopLevel,
 * CommonPayloadKeys, com.apple.security.scep/acme/root/pkcs1/pem/pkcs12,
 * com.apple.wifi.managed, com.apple.vpn.managed).
 */
enum vtype {
	V_ANY,
	V_STRING,
	V_INT,
	V_BOOL,
	V_REAL,			/* <real> or <integer> */
	V_DATE,
	V_DATA,
	V_DICT,
	V_ARRAY,
	V_STRS,			/* a string or an array of strings */
};

/* Payloads in one profile; bounds the pairwise uniqueness checks. */
#define MAX_PAYLOADS	1000

#define F_REQ	0x1		/* required key */
#define F_FORCE	0x2		/* a value out of range is a warning with force */
#define F_OPEN	0x4		/* dictionary: do not warn about unknown keys */

struct kspec {
	const char *key;
	enum vtype type;
	int flags;
	const char *const *strs;	/* allowed strings, NULL-terminated */
	const long long *ints;		/* allowed integers */
	size_t nints;
	const struct kspec *sub;	/* V_DICT: key table, ends with NULL key */
	const struct kspec *each;	/* V_ARRAY: items; open V_DICT: values */
	size_t min, max;		/* V_ARRAY: item count (max 0: any) */
};

#define INTS(a)		.ints = (a), .nints = nitems(a)
#define S(k)		{ .key = (k), .type = V_STRING }
#define SR(k)		{ .key = (k), .type = V_STRING, .flags = F_REQ }
#define SE(k, a)	{ .key = (k), .type = V_STRING, .strs = (a) }
#define I(k)		{ .key = (k), .type = V_INT }
#define IE(k, a)	{ .key = (k), .type = V_INT, INTS(a) }
#define B(k)		{ .key = (k), .type = V_BOOL }
#define D(k)		{ .key = (k), .type = V_DATA }
#define DICT(k, t)	{ .key = (k), .type = V_DICT, .sub = (t) }
#define ARR(k, e)	{ .key = (k), .type = V_ARRAY, .each = (e) }
#define END		{ .key = NULL }

static const long long ints_one[] = { 1 };
static const long long ints_bit[] = { 0, 1 };
static const long long ints_target[] = { 0, 1, 2, 3, 4, 5, 6 };
static const long long ints_keysize[] = { 1024, 2048, 4096 };
static const long long ints_keyusage[] = { 0, 1, 4, 5 };
static const long long ints_eap[] = { 13, 17, 18, 21, 23, 25, 43 };
static const long long ints_rands[] = { 2, 3 };
static const long long ints_dh[] = {
	1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31, 32
};

static const char *const strs_config[] = { "Configuration", NULL };
static const char *const strs_scope[] = { "System", "User", NULL };
static const char *const strs_rsa[] = { "RSA", NULL };
static const char *const strs_enc[] = {
	"WEP", "WPA", "WPA2", "WPA3", "Any", "None", NULL
};
static const char *const strs_proxy[] = { "None", "Manual", "Auto", NULL };
static const char *const strs_ttls[] = {
	"PAP", "EAP", "CHAP", "MSCHAP", "MSCHAPv2", NULL
};
static const char *const strs_tls13[] = { "1.0", "1.1", "1.2", "1.3", NULL };
static const char *const strs_tls12[] = { "1.0", "1.1", "1.2", NULL };
static const char *const strs_setup[] = { "System", "Loginwindow", NULL };
static const char *const strs_vpntype[] = {
	"VPN", "L2TP", "IPSec", "IKEv2", "AlwaysOn", "TransparentProxy", NULL
};
static const char *const strs_ikeauth[] = {
	"None", "SharedSecret", "Certificate", NULL
};
static const char *const strs_certtype[] = {
	"RSA", "ECDSA256", "ECDSA384", "ECDSA521", "RSA-PSS", NULL
};
static const char *const strs_dpd[] = { "None", "Low", "Medium", "High", NULL };
static const char *const strs_provider[] = {
	"packet-tunnel", "app-proxy", NULL
};
static const char *const strs_action[] = {
	"Allow", "Connect", "Disconnect", "EvaluateConnection", "Ignore", NULL
};
static const char *const strs_iface[] = {
	"Ethernet", "WiFi", "Cellular", NULL
};
static const char *const strs_encalg[] = {
	"DES", "3DES", "AES-128", "AES-256", "AES-128-GCM", "AES-256-GCM",
	"ChaCha20Poly1305", NULL
};
static const char *const strs_intalg[] = {
	"SHA1-96", "SHA1-160", "SHA2-256", "SHA2-384", "SHA2-512", NULL
};

static const struct kspec spec_string = { .key = "item", .type = V_STRING };

static const struct kspec spec_top[] = {
	SR("PayloadIdentifier"),
	SR("PayloadUUID"),
	{ .key = "PayloadType", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_config },
	{ .key = "PayloadVersion", .type = V_INT, .flags = F_REQ,
	  INTS(ints_one) },
	/* items are checked as payloads, see check_payload() */
	{ .key = "PayloadContent", .type = V_ARRAY, .flags = F_REQ, .min = 1,
	  .max = MAX_PAYLOADS },
	B("IsEncrypted"),
	D("EncryptedPayloadContent"),
	S("PayloadDescription"),
	S("PayloadDisplayName"),
	B("HasRemovalPasscode"),
	S("PayloadOrganization"),
	B("PayloadRemovalDisallowed"),
	SE("PayloadScope", strs_scope),
	{ .key = "RemovalDate", .type = V_DATE },
	{ .key = "DurationUntilRemoval", .type = V_REAL },
	{ .key = "PayloadExpirationDate", .type = V_DATE },
	IE("TargetDeviceType", ints_target),
	{ .key = "ConsentText", .type = V_DICT, .flags = F_OPEN,
	  .each = &spec_string },
	END
};

static const struct kspec spec_common[] = {
	SR("PayloadIdentifier"),
	SR("PayloadUUID"),
	SR("PayloadType"),
	{ .key = "PayloadVersion", .type = V_INT, .flags = F_REQ,
	  INTS(ints_one) },
	S("PayloadDescription"),
	S("PayloadDisplayName"),
	S("PayloadOrganization"),
	END
};

/* Subject: [ RDN... ], RDN: [ pair... ], pair: [ type, value ] */
static const struct kspec spec_pair = {
	.key = "pair", .type = V_ARRAY, .each = &spec_string, .min = 2,
	.max = 2
};
static const struct kspec spec_rdn = {
	.key = "rdn", .type = V_ARRAY, .each = &spec_pair, .min = 1
};

static const struct kspec spec_san[] = {
	{ .key = "rfc822Name", .type = V_STRS },
	{ .key = "dNSName", .type = V_STRS },
	{ .key = "uniformResourceIdentifier", .type = V_STRS },
	{ .key = "ntPrincipalName", .type = V_STRS },
	END
};

static const struct kspec spec_scep_content[] = {
	SR("URL"),
	S("Name"),
	ARR("Subject", &spec_rdn),
	S("Challenge"),		/* see check_scep() */
	{ .key = "Keysize", .type = V_INT, .flags = F_FORCE,
	  INTS(ints_keysize) },
	SE("Key Type", strs_rsa),
	IE("Key Usage", ints_keyusage),
	D("CAFingerprint"),
	I("Retries"),
	I("RetryDelay"),
	DICT("SubjectAltName", spec_san),
	B("KeyIsExtractable"),
	B("AllowAllAppsAccess"),
	END
};

static const struct kspec spec_scep[] = {
	{ .key = "PayloadContent", .type = V_DICT, .flags = F_REQ,
	  .sub = spec_scep_content },
	END
};

static const struct kspec spec_cert[] = {
	S("PayloadCertificateFileName"),
	{ .key = "PayloadContent", .type = V_DATA, .flags = F_REQ },
	END
};

static const struct kspec spec_eaptype = {
	.key = "item", .type = V_INT, INTS(ints_eap)
};
static const struct kspec spec_setupmode = {
	.key = "item", .type = V_STRING, .strs = strs_setup
};

static const struct kspec spec_eap[] = {
	{ .key = "AcceptEAPTypes", .type = V_ARRAY, .flags = F_REQ,
	  .each = &spec_eaptype },
	S("UserName"),
	S("UserPassword"),
	ARR("PayloadCertificateAnchorUUID", &spec_string),
	ARR("TLSTrustedCertificates", &spec_string),
	ARR("TLSTrustedServerNames", &spec_string),
	B("TLSAllowTrustExceptions"),
	B("TLSCertificateIsRequired"),
	SE("TTLSInnerAuthentication", strs_ttls),
	SE("TLSMinimumVersion", strs_tls13),
	SE("TLSMaximumVersion", strs_tls13),
	S("OuterIdentity"),
	B("EAPFASTUsePAC"),
	B("EAPFASTProvisionPAC"),
	B("EAPFASTProvisionPACAnonymously"),
	IE("EAPSIMNumberOfRANDs", ints_rands),
	S("SystemModeCredentialsSource"),
	B("SystemModeUseOpenDirectoryCredentials"),
	B("OneTimeUserPassword"),
	END
};

static const struct kspec spec_qos[] = {
	ARR("QoSMarkingAllowListAppIdentifiers", &spec_string),
	ARR("QoSMarkingWhitelistedAppIdentifiers", &spec_string),
	B("QoSMarkingAppleAudioVideoCalls"),
	B("QoSMarkingEnabled"),
	END
};

static const struct kspec spec_wifi[] = {
	B("AutoJoin"),
	S("SSID_STR"),		/* required unless Passpoint, see check_wifi */
	B("HIDDEN_NETWORK"),
	SE("ProxyType", strs_proxy),
	SE("EncryptionType", strs_enc),
	S("Password"),
	S("PayloadCertificateUUID"),
	DICT("EAPClientConfiguration", spec_eap),
	S("DisplayedOperatorName"),
	S("DomainName"),
	ARR("RoamingConsortiumOIs", &spec_string),
	B("ServiceProviderRoamingEnabled"),
	B("IsHotspot"),
	S("HESSID"),
	ARR("NAIRealmNames", &spec_string),
	ARR("MCCAndMNCs", &spec_string),
	B("CaptiveBypass"),
	DICT("QoSMarkingPolicy", spec_qos),
	ARR("SetupModes", &spec_setupmode),
	B("EnableIPv6"),
	B("TLSCertificateRequired"),
	S("ProxyServer"),
	I("ProxyServerPort"),
	S("ProxyUsername"),
	S("ProxyPassword"),
	S("ProxyPACURL"),
	B("ProxyPACFallbackAllowed"),
	B("DisableAssociationMACRandomization"),
	END
};

static const char *const strs_domainaction[] = {
	"ConnectIfNeeded", "NeverConnect", NULL
};
static const struct kspec spec_actionparam[] = {
	{ .key = "Domains", .type = V_ARRAY, .flags = F_REQ,
	  .each = &spec_string },
	{ .key = "DomainAction", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_domainaction },
	ARR("RequiredDNSServers", &spec_string),
	S("RequiredURLStringProbe"),
	END
};
static const struct kspec spec_actionparam_item = {
	.key = "item", .type = V_DICT, .sub = spec_actionparam
};

static const struct kspec spec_ondemand[] = {
	{ .key = "Action", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_action },
	ARR("ActionParameters", &spec_actionparam_item),
	ARR("DNSDomainMatch", &spec_string),
	ARR("DNSServerAddressMatch", &spec_string),
	SE("InterfaceTypeMatch", strs_iface),
	ARR("SSIDMatch", &spec_string),
	S("URLStringProbe"),
	END
};
static const struct kspec spec_ondemand_rule = {
	.key = "rule", .type = V_DICT, .sub = spec_ondemand
};

static const struct kspec spec_sa[] = {
	SE("EncryptionAlgorithm", strs_encalg),
	SE("IntegrityAlgorithm", strs_intalg),
	IE("DiffieHellmanGroup", ints_dh),
	I("LifeTimeInMinutes"),
	END
};

static const struct kspec spec_ikev2[] = {
	SR("RemoteAddress"),
	SR("LocalIdentifier"),
	SR("RemoteIdentifier"),
	{ .key = "AuthenticationMethod", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_ikeauth },
	SE("CertificateType", strs_certtype),
	S("PayloadCertificateUUID"),
	S("Password"),
	S("ProviderBundleIdentifier"),
	S("ProviderDesignatedRequirement"),
	S("SharedSecret"),
	IE("ExtendedAuthEnabled", ints_bit),
	S("AuthName"),
	S("AuthPassword"),
	IE("OnDemandEnabled", ints_bit),
	IE("OnDemandUserOverrideDisabled", ints_bit),
	ARR("OnDemandRules", &spec_ondemand_rule),
	SE("DeadPeerDetectionRate", strs_dpd),
	S("ServerCertificateIssuerCommonName"),
	S("ServerCertificateCommonName"),
	SE("TLSMinimumVersion", strs_tls12),
	SE("TLSMaximumVersion", strs_tls12),
	IE("UseConfigurationAttributeInternalIPSubnet", ints_bit),
	IE("DisableMOBIKE", ints_bit),
	IE("DisableRedirect", ints_bit),
	IE("DisconnectOnIdle", ints_bit),
	I("DisconnectOnIdleTimer"),
	IE("NATKeepAliveOffloadEnable", ints_bit),
	I("NATKeepAliveInterval"),
	IE("EnablePFS", ints_bit),
	IE("EnableCertificateRevocationCheck", ints_bit),
	IE("EnableFallback", ints_bit),
	I("MTU"),
	SE("ProviderType", strs_provider),
	IE("IncludeAllNetworks", ints_bit),
	IE("EnforceRoutes", ints_bit),
	IE("ExcludeLocalNetworks", ints_bit),
	IE("ExcludeCellularServices", ints_bit),
	IE("ExcludeAPNs", ints_bit),
	IE("ExcludeDeviceCommunication", ints_bit),
	D("PPK"),
	S("PPKIdentifier"),
	IE("PPKMandatory", ints_bit),
	DICT("IKESecurityAssociationParameters", spec_sa),
	DICT("ChildSecurityAssociationParameters", spec_sa),
	END
};

static const char *const strs_vpnauth[] = {
	"Password", "Certificate", "Password+Certificate", NULL
};
static const char *const strs_ipsecauth[] = {
	"SharedSecret", "Certificate", NULL
};
static const char *const strs_prompt[] = { "Prompt", NULL };
static const char *const strs_keyid[] = { "KeyID", NULL };
static const char *const strs_eapplugin[] = {
	"EAP-RSA", "EAP-TLS", "EAP-KRB", NULL
};
static const char *const strs_eaponly[] = { "EAP", NULL };
static const char *const strs_dnsproto[] = {
	"Cleartext", "HTTPS", "TLS", NULL
};
static const char *const strs_ikev2only[] = { "IKEv2", NULL };
static const char *const strs_aoiface[] = { "Cellular", "WiFi", NULL };
static const char *const strs_aoservice[] = {
	"VoiceMail", "AirPrint", "CellularServices", "DeviceCommunication", NULL
};
static const char *const strs_aoaction[] = { "Allow", "Drop", NULL };
static const char *const strs_udp[] = { "UDP", NULL };

static const struct kspec spec_eapplugin = {
	.key = "item", .type = V_STRING, .strs = strs_eapplugin
};
static const struct kspec spec_eaponly = {
	.key = "item", .type = V_STRING, .strs = strs_eaponly
};
static const struct kspec spec_aoiface = {
	.key = "item", .type = V_STRING, .strs = strs_aoiface
};
static const struct kspec spec_udp = {
	.key = "item", .type = V_STRING, .strs = strs_udp
};

/* On demand, as the VPN and IPSec dictionaries both have it. */
#define ONDEMAND_KEYS							\
	IE("OnDemandEnabled", ints_bit),				\
	ARR("OnDemandMatchDomainsAlways", &spec_string),		\
	ARR("OnDemandMatchDomainsNever", &spec_string),			\
	ARR("OnDemandMatchDomainsOnRetry", &spec_string),		\
	ARR("OnDemandRules", &spec_ondemand_rule)

/* VendorConfig is the vendor's: known keys checked, others allowed. */
static const struct kspec spec_vendor[] = {
	S("Realm"),
	S("Role"),
	S("Group"),
	S("LoginGroupOrDomain"),
	END
};

static const struct kspec spec_vpn_vpn[] = {
	SE("AuthenticationMethod", strs_vpnauth),
	S("PayloadCertificateUUID"),
	S("Password"),
	S("ProviderBundleIdentifier"),
	S("ProviderDesignatedRequirement"),
	IE("DisconnectOnIdle", ints_bit),
	I("DisconnectOnIdleTimer"),
	SE("ProviderType", strs_provider),
	IE("IncludeAllNetworks", ints_bit),
	IE("EnforceRoutes", ints_bit),
	IE("ExcludeLocalNetworks", ints_bit),
	IE("ExcludeCellularServices", ints_bit),
	IE("ExcludeAPNs", ints_bit),
	IE("ExcludeDeviceCommunication", ints_bit),
	IE("OnDemandUserOverrideDisabled", ints_bit),
	ONDEMAND_KEYS,
	END
};

static const struct kspec spec_ipv4[] = {
	IE("OverridePrimary", ints_bit),
	END
};

static const struct kspec spec_ppp[] = {
	S("AuthName"),
	S("AuthPassword"),
	IE("TokenCard", ints_bit),
	S("CommRemoteAddress"),
	ARR("AuthEAPPlugins", &spec_eapplugin),
	ARR("AuthProtocol", &spec_eaponly),
	IE("CCPMPPE40Enabled", ints_bit),
	IE("CCPMPPE128Enabled", ints_bit),
	IE("CCPEnabled", ints_bit),
	IE("DisconnectOnIdle", ints_bit),
	I("DisconnectOnIdleTimer"),
	END
};

static const struct kspec spec_ipsec[] = {
	S("RemoteAddress"),
	SE("AuthenticationMethod", strs_ipsecauth),
	S("XAuthName"),
	S("XAuthPassword"),
	IE("XAuthEnabled", ints_bit),
	SE("XAuthPasswordEncryption", strs_prompt),
	S("LocalIdentifier"),
	SE("LocalIdentifierType", strs_keyid),
	D("SharedSecret"),
	S("PayloadCertificateUUID"),
	B("PromptForVPNPIN"),
	IE("DisconnectOnIdle", ints_bit),
	I("DisconnectOnIdleTimer"),
	ONDEMAND_KEYS,
	END
};

static const struct kspec spec_dns[] = {
	{ .key = "DNSProtocol", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_dnsproto },
	S("ServerURL"),
	S("ServerName"),
	{ .key = "ServerAddresses", .type = V_ARRAY, .flags = F_REQ,
	  .each = &spec_string },
	ARR("SearchDomains", &spec_string),
	S("DomainName"),
	ARR("SupplementalMatchDomains", &spec_string),
	IE("SupplementalMatchDomainsNoSearch", ints_bit),
	S("PayloadCertificateUUID"),
	END
};

static const struct kspec spec_proxies[] = {
	IE("ProxyAutoConfigEnable", ints_bit),
	IE("ProxyAutoDiscoveryEnable", ints_bit),
	S("ProxyAutoConfigURLString"),
	ARR("SupplementalMatchDomains", &spec_string),
	IE("HTTPEnable", ints_bit),
	S("HTTPProxy"),
	I("HTTPPort"),
	S("HTTPProxyUsername"),
	S("HTTPProxyPassword"),
	IE("HTTPSEnable", ints_bit),
	S("HTTPSProxy"),
	I("HTTPSPort"),
	END
};

static const struct kspec spec_tunnel[] = {
	{ .key = "ProtocolType", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_ikev2only },
	ARR("Interfaces", &spec_aoiface),
	END
};
static const struct kspec spec_tunnel_item = {
	.key = "item", .type = V_DICT, .sub = spec_tunnel
};
static const struct kspec spec_svcexc[] = {
	{ .key = "ServiceName", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_aoservice },
	{ .key = "Action", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_aoaction },
	END
};
static const struct kspec spec_svcexc_item = {
	.key = "item", .type = V_DICT, .sub = spec_svcexc
};
static const struct kspec spec_appexc[] = {
	SR("BundleIdentifier"),
	ARR("LimitToProtocols", &spec_udp),
	END
};
static const struct kspec spec_appexc_item = {
	.key = "item", .type = V_DICT, .sub = spec_appexc
};
static const struct kspec spec_bundle[] = {
	SR("BundleIdentifier"),
	END
};
static const struct kspec spec_bundle_item = {
	.key = "item", .type = V_DICT, .sub = spec_bundle
};

static const struct kspec spec_alwayson[] = {
	IE("UIToggleEnabled", ints_bit),
	{ .key = "TunnelConfigurations", .type = V_ARRAY, .flags = F_REQ,
	  .each = &spec_tunnel_item },
	ARR("ServiceExceptions", &spec_svcexc_item),
	ARR("ApplicationExceptions", &spec_appexc_item),
	IE("AllowCaptiveWebSheet", ints_bit),
	IE("AllowAllCaptiveNetworkPlugins", ints_bit),
	ARR("AllowedCaptiveNetworkPlugins", &spec_bundle_item),
	END
};

static const struct kspec spec_tproxy[] = {
	SE("AuthenticationMethod", strs_vpnauth),
	IE("DisconnectOnIdle", ints_bit),
	I("DisconnectOnIdleTimer"),
	IE("EnforceRoutes", ints_bit),
	IE("OnDemandEnabled", ints_bit),
	ARR("OnDemandRules", &spec_ondemand_rule),
	S("PayloadCertificateUUID"),
	S("Password"),
	S("ProviderBundleIdentifier"),
	S("ProviderDesignatedRequirement"),
	SE("ProviderType", strs_provider),
	I("Order"),
	END
};

static const struct kspec spec_vpn[] = {
	{ .key = "VPNType", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_vpntype },
	S("VPNSubType"),
	SR("UserDefinedName"),
	{ .key = "VendorConfig", .type = V_DICT, .flags = F_OPEN,
	  .sub = spec_vendor },
	DICT("VPN", spec_vpn_vpn),
	DICT("IPv4", spec_ipv4),
	DICT("PPP", spec_ppp),
	DICT("IPSec", spec_ipsec),
	DICT("IKEv2", spec_ikev2),
	DICT("DNS", spec_dns),
	DICT("Proxies", spec_proxies),
	DICT("AlwaysOn", spec_alwayson),
	DICT("TransparentProxy", spec_tproxy),
	END
};

static const char *const strs_acmekey[] = { "RSA", "ECSECPrimeRandom", NULL };

static const struct kspec spec_acme_san[] = {
	S("rfc822Name"),
	S("dNSName"),
	S("uniformResourceIdentifier"),
	S("ntPrincipalName"),
	END
};

static const struct kspec spec_acme[] = {
	SR("DirectoryURL"),
	SR("ClientIdentifier"),
	{ .key = "KeySize", .type = V_INT, .flags = F_REQ },
	{ .key = "KeyType", .type = V_STRING, .flags = F_REQ,
	  .strs = strs_acmekey },
	{ .key = "HardwareBound", .type = V_BOOL, .flags = F_REQ },
	{ .key = "Subject", .type = V_ARRAY, .flags = F_REQ,
	  .each = &spec_rdn },
	DICT("SubjectAltName", spec_acme_san),
	IE("UsageFlags", ints_keyusage),
	ARR("ExtendedKeyUsage", &spec_string),
	B("Attest"),
	B("KeyIsExtractable"),
	B("AllowAllAppsAccess"),
	END
};

static const struct kspec spec_pkcs12[] = {
	S("PayloadCertificateFileName"),
	{ .key = "PayloadContent", .type = V_DATA, .flags = F_REQ },
	S("Password"),
	END
};

#define SCEP_TYPE	"com.apple.security.scep"
#define ROOT_TYPE	"com.apple.security.root"
#define PKCS1_TYPE	"com.apple.security.pkcs1"
#define PEM_TYPE	"com.apple.security.pem"
#define WIFI_TYPE	"com.apple.wifi.managed"
#define VPN_TYPE	"com.apple.vpn.managed"
#define ACME_TYPE	"com.apple.security.acme"
#define PKCS12_TYPE	"com.apple.security.pkcs12"

static const struct {
	const char *type;
	const struct kspec *keys;
} payload_specs[] = {
	{ SCEP_TYPE, spec_scep },
	{ ROOT_TYPE, spec_cert },
	{ PKCS1_TYPE, spec_cert },
	{ PEM_TYPE, spec_cert },
	{ WIFI_TYPE, spec_wifi },
	{ VPN_TYPE, spec_vpn },
	{ ACME_TYPE, spec_acme },
	{ PKCS12_TYPE, spec_pkcs12 },
};

/*
 * Pre-scan.  Elements of an XML plist; E_NONE is anything else.
 */
enum elem {
	E_NONE, E_PLIST, E_DICT, E_ARRAY, E_KEY, E_STRING, E_DATA, E_DATE,
	E_INTEGER, E_REAL, E_TRUE, E_FALSE,
};

static const char *const elem_names[] = {
	"", "plist", "dict", "array", "key", "string", "data", "date",
	"integer", "real", "true", "false",
};

/* What the scan learns for the compile pass, in document order. */
struct scan {
	const char *label;
	const size_t *crs;	/* offsets of lone CRs read as LF, sorted */
	size_t ncrs;
	uint32_t *dictkeys;	/* number of keys of each <dict>, malloc'd */
	size_t ndicts;
	size_t dictcap;
	size_t ndata;		/* <data> elements seen */
	size_t data_ph;		/* 1 + ordinal of the first <data> holding
				 * "{{", or 0 */
};

struct frame {
	enum elem el;
	size_t dict;		/* E_DICT: ordinal */
	int want_value;		/* E_DICT: a key was read, its value is next */
	int nvalues;		/* E_PLIST: values read */
	size_t content;		/* leaf: offset of the content */
};

/* "LABEL: line N: " + message, N counted up to offset off. */
/* How many lone CRs, read as line ends, come before offset off: editors
 * and grep count lines by LF only, and messages should agree. */
static size_t
crs_before(const struct scan *s, size_t off)
{
	size_t n = 0;

	while (n < s->ncrs && s->crs[n] < off)
		n++;
	return n;
}

static struct pf_error *
scan_err(const struct scan *s, const char *x, size_t off, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static struct pf_error *
scan_err(const struct scan *s, const char *x, size_t off, const char *fmt,
    ...)
{
	char msg[PF_ERRMSG_MAX];
	va_list ap;
	size_t i, line = 1;

	for (i = 0; i < off; i++)
		if (x[i] == '\n')
			line++;
	line -= crs_before(s, off);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return pf_error_fmt(PF_EX_DATAERR, "%s: line %zu: %s", s->label, line,
	    msg);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
is_text_leaf(enum elem e)
{
	return e == E_KEY || e == E_STRING;
}

static int
is_leaf(enum elem e)
{
	return e >= E_KEY;
}

/* Offset of needle in x[from..n), or n. */
static size_t
find(const char *x, size_t n, size_t from, const char *needle)
{
	size_t m = strlen(needle);
	const char *p;

	if (from > n || n - from < m)
		return n;
	p = memmem(x + from, n - from, needle, m);
	return p == NULL ? n : (size_t)(p - x);
}

static int
starts(const char *x, size_t n, size_t i, const char *prefix)
{
	size_t m = strlen(prefix);

	return n - i >= m && memcmp(x + i, prefix, m) == 0;
}

static int
valid_xml_char(unsigned long c)
{
	return c == 0x9 || c == 0xa || c == 0xd ||
	    (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) ||
	    (c >= 0x10000 && c <= 0x10ffff);
}

/* Length of the entity reference at x[i] ('&'), or 0 if it is not one
 * libplist and XML both understand. */
static size_t
entity_len(const char *x, size_t n, size_t i)
{
	static const char *const named[] = {
		"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"
	};
	unsigned long v = 0;
	size_t j, k;
	int hex;

	for (k = 0; k < nitems(named); k++)
		if (starts(x, n, i, named[k]))
			return strlen(named[k]);
	if (!starts(x, n, i, "&#"))
		return 0;
	j = i + 2;
	hex = j < n && x[j] == 'x';
	if (hex)
		j++;
	for (k = j; k < n && k - j < 8; k++) {
		char c = x[k];

		if (c >= '0' && c <= '9')
			v = v * (hex ? 16 : 10) + (unsigned long)(c - '0');
		else if (hex && c >= 'a' && c <= 'f')
			v = v * 16 + (unsigned long)(c - 'a' + 10);
		else if (hex && c >= 'A' && c <= 'F')
			v = v * 16 + (unsigned long)(c - 'A' + 10);
		else
			break;
	}
	if (k == j || k >= n || x[k] != ';' || !valid_xml_char(v))
		return 0;
	return k + 1 - i;
}

static int
is_digits(const char *p, const char *e)
{
	if (p == e)
		return 0;
	for (; p < e; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Content of <integer>: a decimal integer that fits in 64 bits. */
static int
valid_integer(const char *p, const char *e)
{
	const char *max = "18446744073709551615";
	size_t n;
	int neg = 0;

	if (p < e && (*p == '-' || *p == '+')) {
		neg = *p == '-';
		p++;
	}
	if (!is_digits(p, e))
		return 0;
	while (e - p > 1 && *p == '0')
		p++;
	if (neg)
		max = "9223372036854775808";
	n = (size_t)(e - p);
	return n < strlen(max) ||
	    (n == strlen(max) && memcmp(p, max, n) <= 0);
}

/* Content of <real>: [+-]digits[.digits][e[+-]digits]. */
static int
valid_real(const char *p, const char *e)
{
	const char *q;

	if (p < e && (*p == '-' || *p == '+'))
		p++;
	for (q = p; q < e && *q >= '0' && *q <= '9'; q++)
		;
	if (q < e && *q == '.') {
		const char *f = ++q;

		while (q < e && *q >= '0' && *q <= '9')
			q++;
		if (q == f && f - 1 == p)
			return 0;
	} else if (q == p)
		return 0;
	if (q < e && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < e && (*q == '-' || *q == '+'))
			q++;
		if (!is_digits(q, e))
			return 0;
		return 1;
	}
	return q == e;
}

/* The number in p[0..n), all digits. */
static int
num(const char *p, size_t n)
{
	int v = 0;

	while (n-- > 0)
		v = v * 10 + (*p++ - '0');
	return v;
}

/* Content of <date>: YYYY-MM-DDTHH:MM:SSZ, a time that exists (years 1000
 * to 9999): libplist would move 2030-02-31 to March 3, write year 0 as
 * "-1" and year 999 with three digits. */
static int
valid_date(const char *p, const char *e)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	size_t i;
	int y, m, d;

	if ((size_t)(e - p) != sizeof(pat) - 1)
		return 0;
	for (i = 0; i < sizeof(pat) - 1; i++) {
		if (pat[i] == 'd' ? (p[i] < '0' || p[i] > '9') : p[i] != pat[i])
			return 0;
	}
	y = num(p, 4);
	m = num(p + 5, 2);
	d = num(p + 8, 2);
	if (y < 1000 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && (y % 4 != 0 ||
	    (y % 100 == 0 && y % 400 != 0))))
		return 0;
	return num(p + 11, 2) < 24 && num(p + 14, 2) < 60 &&
	    num(p + 17, 2) < 60;
}

/* Content of <data>: base64 (RFC 4648) with white space anywhere: groups
 * of four, '=' only to pad the last one.  Anything else libplist would
 * decode to other bytes without a word. */
static int
valid_base64(const char *p, const char *e)
{
	size_t n = 0, pad = 0;

	for (; p < e; p++) {
		unsigned char c = (unsigned char)*p;

		if (is_space((char)c))
			continue;
		if (c == '=') {
			if (++pad > 2)
				return 0;
		} else if (pad > 0 || (!isalnum(c) && c != '+' && c != '/'))
			return 0;
		n++;
	}
	return n % 4 == 0;
}

/* Check the content x[f->content..end) of a closed leaf element. */
static struct pf_error *
scan_leaf(struct scan *s, const char *x, const struct frame *f, size_t end)
{
	const char *p = x + f->content, *e = x + end;
	const char *name = elem_names[f->el];

	if (is_text_leaf(f->el))
		return NULL;
	if (f->el == E_DATA) {
		if (memmem(p, (size_t)(e - p), "{{", 2) != NULL) {
			if (s->data_ph == 0)
				s->data_ph = s->ndata;
			return NULL;
		}
		if (!valid_base64(p, e))
			return scan_err(s, x, f->content,
			    "<data> is not base64");
		return NULL;
	}
	while (p < e && is_space(*p))
		p++;
	while (e > p && is_space(e[-1]))
		e--;
	switch (f->el) {
	case E_TRUE:
	case E_FALSE:
		if (p == e)
			return NULL;
		break;
	case E_INTEGER:
		if (valid_integer(p, e))
			return NULL;
		if (memmem(p, (size_t)(e - p), "{{", 2) != NULL)
			return scan_err(s, x, f->content, "placeholder in "
			    "<integer>: write <string>{{int:COLUMN}}</string>");
		break;
	case E_REAL:
		if (valid_real(p, e))
			return NULL;
		break;
	case E_DATE:
		if (valid_date(p, e))
			return NULL;
		if (memmem(p, (size_t)(e - p), "{{", 2) != NULL)
			return scan_err(s, x, f->content,
			    "placeholder in <date>");
		break;
	default:
		return NULL;
	}
	return scan_err(s, x, f->content, "<%s> holds \"%.*s\"", name,
	    (int)(e - p > 40 ? 40 : e - p), p);
}

static enum elem
elem_lookup(const char *p, size_t n)
{
	size_t i;

	for (i = 1; i < nitems(elem_names); i++)
		if (strlen(elem_names[i]) == n && memcmp(elem_names[i], p, n) == 0)
			return (enum elem)i;
	return E_NONE;
}

/* First line of x[0..n) that is not valid UTF-8 or holds a character
 * XML forbids (a control character, U+FFFE, U+FFFF); 0 if there is
 * none. */
static size_t
bad_line(const char *x, size_t n, int *ctl, size_t *at)
{
	size_t i = 0, line = 1, j;

	while (i < n) {
		*at = i;
		const char *nl = memchr(x + i, '\n', n - i);

		j = nl == NULL ? n : (size_t)(nl - x);
		if (!pf_utf8_valid(x + i, j - i)) {
			*ctl = 0;
			return line;
		}
		for (; i < j; i++) {
			unsigned char c = (unsigned char)x[i];

			if (c < 0x20 && c != '\t' && c != '\r') {
				*ctl = 1;
				return line;
			}
			if (c == 0xef && i + 2 < j &&
			    (unsigned char)x[i + 1] == 0xbf &&
			    ((unsigned char)x[i + 2] & 0xfe) == 0xbe) {
				*ctl = 2;
				return line;
			}
		}
		i = j + 1;
		line++;
	}
	return 0;
}

static struct pf_error *
scan_open(struct scan *s, const char *x, size_t at, struct frame *st,
    int *sp, int *depth, int *root_done, enum elem el, int selfclose,
    size_t content)
{
	struct frame *top = *sp > 0 ? &st[*sp - 1] : NULL;
	const char *name = elem_names[el];

	if (top == NULL) {
		if (*root_done)
			return scan_err(s, x, at, "<%s> after </plist>", name);
		if (el != E_PLIST)
			return scan_err(s, x, at, "expected <plist>, found <%s>",
			    name);
		if (selfclose)
			return scan_err(s, x, at, "empty <plist/>");
	} else if (is_leaf(top->el)) {
		return scan_err(s, x, at, "<%s> inside <%s>", name,
		    elem_names[top->el]);
	} else if (el == E_PLIST) {
		return scan_err(s, x, at, "<plist> inside <%s>",
		    elem_names[top->el]);
	} else if (top->el == E_PLIST) {
		if (top->nvalues++ > 0)
			return scan_err(s, x, at, "more than one value in "
			    "<plist>");
		if (el == E_KEY)
			return scan_err(s, x, at, "<key> outside a <dict>");
	} else if (top->el == E_ARRAY) {
		if (el == E_KEY)
			return scan_err(s, x, at, "<key> inside an <array>");
	} else if (top->el == E_DICT) {
		if (el == E_KEY && top->want_value)
			return scan_err(s, x, at, "<key> where a value is "
			    "expected");
		if (el != E_KEY && !top->want_value)
			return scan_err(s, x, at, "<%s> where a <key> is "
			    "expected", name);
		if (el == E_KEY) {
			if (s->dictkeys[top->dict] == UINT32_MAX)
				return scan_err(s, x, at, "too many keys");
			s->dictkeys[top->dict]++;
		}
		top->want_value = el == E_KEY;
	}

	if (el == E_DICT) {
		if (s->ndicts == s->dictcap) {
			size_t cap = s->dictcap ? 2 * s->dictcap : 64;
			uint32_t *p = reallocarray(s->dictkeys, cap,
			    sizeof(*p));

			if (p == NULL)
				return pf_error_nomem();
			s->dictkeys = p;
			s->dictcap = cap;
		}
		s->dictkeys[s->ndicts++] = 0;
	}
	if (el == E_DATA)
		s->ndata++;
	if (selfclose) {
		if (el == E_KEY)
			return scan_err(s, x, at, "empty <key/>");
		if (el == E_INTEGER || el == E_REAL || el == E_DATE)
			return scan_err(s, x, at, "empty <%s/>", name);
		return NULL;
	}
	if (el == E_DICT || el == E_ARRAY) {
		if (++*depth > PF_TEMPLATE_MAX_DEPTH)
			return scan_err(s, x, at, "nested deeper than %d "
			    "levels", PF_TEMPLATE_MAX_DEPTH);
	}
	/* plist + containers + one leaf */
	if (*sp >= PF_TEMPLATE_MAX_DEPTH + 2)
		return scan_err(s, x, at, "nested too deep");
	st[*sp].el = el;
	st[*sp].dict = el == E_DICT ? s->ndicts - 1 : 0;
	st[*sp].want_value = 0;
	st[*sp].nvalues = 0;
	st[*sp].content = content;
	(*sp)++;
	return NULL;
}

/*
 * Check that x[0..n) is a well-formed XML plist within the limits, before
 * libplist parses it: one <plist> holding one value; only plist elements;
 * keys and values alternate in a dict; leaf contents well formed; no DTD
 * internal subset; nesting of dict/array at most PF_TEMPLATE_MAX_DEPTH.
 * Records the key count of every dict and the first <data> holding "{{".
 *
 * Where the scan skips text (comments, CDATA, processing instructions,
 * quoted attribute values, DOCTYPE) it ends exactly where libplist 2.2's
 * parser does, so libplist cannot see markup, and nesting, that the scan
 * took for text.
 */
static struct pf_error *
prescan(struct scan *s, const char *x, size_t n)
{
	struct frame st[PF_TEMPLATE_MAX_DEPTH + 2];
	struct pf_error *err;
	size_t i = 0, j, line, at = 0;
	int sp = 0, depth = 0, root_done = 0, ctl = 0;

	if ((line = bad_line(x, n, &ctl, &at)) != 0)
		return pf_error_fmt(PF_EX_DATAERR, "%s: line %zu: %s",
		    s->label, line - crs_before(s, at), ctl == 1 ?
		    "control character" :
		    ctl == 2 ? "U+FFFE or U+FFFF, which XML does not allow" :
		    "invalid UTF-8");
	while (i < n) {
		struct frame *top = sp > 0 ? &st[sp - 1] : NULL;
		int in_text = top != NULL && is_text_leaf(top->el);
		int in_leaf = top != NULL && is_leaf(top->el);

		if (x[i] == '&') {
			if (!in_text)
				return scan_err(s, x, i, "unexpected \"&\"");
			if ((j = entity_len(x, n, i)) == 0)
				return scan_err(s, x, i, "unknown entity "
				    "reference");
			i += j;
			continue;
		}
		if (x[i] != '<') {
			if (!in_leaf && !is_space(x[i]))
				return scan_err(s, x, i, "text outside an "
				    "element");
			i++;
			continue;
		}
		if (starts(x, n, i, "</")) {
			enum elem el;

			for (j = i + 2; j < n && isalpha((unsigned char)x[j]);
			    j++)
				;
			el = elem_lookup(x + i + 2, j - i - 2);
			while (j < n && is_space(x[j]))
				j++;
			if (j >= n || x[j] != '>')
				return scan_err(s, x, i, "malformed end tag");
			if (top == NULL || el != top->el)
				return scan_err(s, x, i, "unexpected </%.*s>",
				    (int)(j - i - 2 > 20 ? 20 : j - i - 2),
				    x + i + 2);
			if (top->el == E_DICT && top->want_value)
				return scan_err(s, x, i, "<key> without a "
				    "value");
			if (top->el == E_PLIST && top->nvalues == 0)
				return scan_err(s, x, i, "empty <plist>");
			if (is_leaf(top->el) &&
			    (err = scan_leaf(s, x, top, i)) != NULL)
				return err;
			if (top->el == E_DICT || top->el == E_ARRAY)
				depth--;
			if (top->el == E_PLIST)
				root_done = 1;
			sp--;
			i = j + 1;
			continue;
		}
		if (in_leaf && !in_text)
			return scan_err(s, x, i, "markup inside <%s>",
			    elem_names[top->el]);
		if (starts(x, n, i, "<!--")) {
			if ((j = find(x, n, i + 4, "-->")) == n)
				return scan_err(s, x, i, "unterminated "
				    "comment");
			i = j + 3;
			continue;
		}
		if (starts(x, n, i, "<![CDATA[")) {
			if (!in_text)
				return scan_err(s, x, i, "CDATA outside a "
				    "string");
			if ((j = find(x, n, i + 9, "]]>")) == n)
				return scan_err(s, x, i, "unterminated CDATA");
			i = j + 3;
			continue;
		}
		if (starts(x, n, i, "<?")) {
			if (top != NULL)
				return scan_err(s, x, i, "processing "
				    "instruction inside <plist>");
			/* like libplist: from the '?', skipping "..." */
			for (j = i + 1; j < n && !starts(x, n, j, "?>"); j++)
				if (x[j] == '"' && (j = find(x, n, j + 1,
				    "\"")) == n)
					break;
			if (j >= n)
				return scan_err(s, x, i, "unterminated "
				    "processing instruction");
			i = j + 2;
			continue;
		}
		if (starts(x, n, i, "<!DOCTYPE")) {
			int q = 0;

			if (top != NULL || root_done)
				return scan_err(s, x, i, "misplaced DOCTYPE");
			for (j = i + 9; j < n; j++) {
				if (x[j] == '"')
					q = !q;
				else if (q)
					continue;
				else if (x[j] == '[')
					return scan_err(s, x, i, "DTD "
					    "internal subset not allowed");
				else if (x[j] == '>')
					break;
			}
			if (j >= n)
				return scan_err(s, x, i, "unterminated "
				    "DOCTYPE");
			i = j + 1;
			continue;
		}
		{
			enum elem el;
			size_t nl;
			int q = 0;

			for (j = i + 1; j < n && isalpha((unsigned char)x[j]);
			    j++)
				;
			nl = j - i - 1;
			el = elem_lookup(x + i + 1, nl);
			if (el == E_NONE)
				return scan_err(s, x, i, "unknown element "
				    "<%.*s>", (int)(nl > 20 ? 20 : nl),
				    x + i + 1);
			if (j < n && x[j] != '>' && x[j] != '/' &&
			    !is_space(x[j]))
				return scan_err(s, x, i, "malformed tag");
			/* only double quotes quote, as in libplist */
			for (; j < n; j++) {
				if (x[j] == '"')
					q = !q;
				else if (q)
					continue;
				else if (x[j] == '<')
					return scan_err(s, x, i,
					    "malformed tag");
				else if (x[j] == '>')
					break;
			}
			if (j >= n)
				return scan_err(s, x, i, "unterminated tag");
			if ((err = scan_open(s, x, i, st, &sp, &depth,
			    &root_done, el, x[j - 1] == '/', j + 1)) != NULL)
				return err;
			i = j + 1;
		}
	}
	if (sp > 0)
		return scan_err(s, x, n, "unexpected end of input inside "
		    "<%s>", elem_names[st[sp - 1].el]);
	if (!root_done)
		return pf_error_fmt(PF_EX_DATAERR, "%s: no <plist> element",
		    s->label);
	return NULL;
}

struct pf_error *
pf_plist_prescan(const char *label, const char *xml, size_t len)
{
	struct pf_error *err;
	struct scan s;

	memset(&s, 0, sizeof(s));
	s.label = label;
	err = prescan(&s, xml, len);
	free(s.dictkeys);
	return err;
}

/*
 * Load context: the template being built, the key path of the node being
 * looked at (for messages), and what the scan learnt.
 */
#define PATH_MAX_LEN 512

struct lctx {
	struct pf_template *t;
	const char *label;
	int force;
	const struct pf_warn *warn;
	char path[PATH_MAX_LEN];	/* "PayloadContent[1].PayloadContent" */
	size_t pathlen;
	const struct scan *scan;
	size_t dict_ord;		/* dicts compiled so far */
	size_t data_ord;		/* data nodes compiled so far */
	const char **uuid_lits;		/* literal PayloadUUIDs (in t->root) */
	size_t nuuid_lits;
};

static void
path_append(struct lctx *c, const char *s, size_t n)
{
	size_t room = sizeof(c->path) - 1 - c->pathlen;

	if (n > room)
		n = room;
	memcpy(c->path + c->pathlen, s, n);
	c->pathlen += n;
	c->path[c->pathlen] = '\0';
}

/* Append ".key" (or "key" at the root); returns the length to restore. */
static size_t
path_key(struct lctx *c, const char *key)
{
	size_t saved = c->pathlen;

	if (c->pathlen > 0)
		path_append(c, ".", 1);
	path_append(c, key, strlen(key));
	return saved;
}

static size_t
path_index(struct lctx *c, size_t i)
{
	char buf[32];
	size_t saved = c->pathlen;
	int n;

	n = snprintf(buf, sizeof(buf), "[%zu]", i);
	path_append(c, buf, (size_t)n);
	return saved;
}

static void
path_pop(struct lctx *c, size_t saved)
{
	c->pathlen = saved;
	c->path[saved] = '\0';
}

static const char *
path_str(const struct lctx *c)
{
	return c->pathlen > 0 ? c->path : "root";
}

/* An error "LABEL: PATH: message". */
static struct pf_error *
perr(const struct lctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct pf_error *
perr(const struct lctx *c, const char *fmt, ...)
{
	char msg[PF_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return pf_error_fmt(PF_EX_DATAERR, "%s: %s: %s", c->label,
	    path_str(c), msg);
}

static void
pwarn(const struct lctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pwarn(const struct lctx *c, const char *fmt, ...)
{
	char msg[PF_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pf_warnf(c->warn, "%s: %s: %s", c->label, path_str(c), msg);
}

/* A problem Apple devices tolerate: a warning with force, else an error. */
static struct pf_error *
tolerable(const struct lctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct pf_error *
tolerable(const struct lctx *c, const char *fmt, ...)
{
	char msg[PF_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->force) {
		pwarn(c, "%s", msg);
		return NULL;
	}
	return perr(c, "%s (--force accepts it)", msg);
}

/* Index of name[0..n) in *list, appending a copy if absent. */
static struct pf_error *
intern(char ***list, size_t *count, const char *name, size_t n, size_t *idx)
{
	char **p, *s;
	size_t i;

	for (i = 0; i < *count; i++) {
		if (strlen((*list)[i]) == n && memcmp((*list)[i], name, n) == 0) {
			*idx = i;
			return NULL;
		}
	}
	if ((s = strndup(name, n)) == NULL)
		return pf_error_nomem();
	if ((p = reallocarray(*list, *count + 1, sizeof(*p))) == NULL) {
		free(s);
		return pf_error_nomem();
	}
	p[*count] = s;
	*list = p;
	*idx = (*count)++;
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * 1 if the node at the path is the value of a key that names a payload by
 * its UUID (PayloadUUID, PayloadCertificateUUID, an element of
 * PayloadCertificateAnchorUUID, ...): its name ends in "UUID".  A string
 * elsewhere that happens to equal a literal PayloadUUID (a
 * PayloadIdentifier, say) is left as it is.
 */
static int
uuid_ref_key(const struct lctx *c)
{
	size_t end = c->pathlen, k;

	while (end > 0 && c->path[end - 1] == ']') {	/* "[n]" */
		for (k = end - 1; k > 0 && c->path[k - 1] != '['; k--)
			;
		if (k == 0)
			return 0;
		end = k - 1;
	}
	return end >= 4 && memcmp(c->path + end - 4, "UUID", 4) == 0;
}

/* uuid_lits is sorted: every string of the template is looked up. */
static int
is_uuid_literal(const struct lctx *c, const char *s)
{
	return c->nuuid_lits > 0 && bsearch(&s, c->uuid_lits, c->nuuid_lits,
	    sizeof(*c->uuid_lits), cmp_str) != NULL;
}

static struct pf_error *
set_path(const struct lctx *c, struct pf_tnode *n)
{
	if (n->path == NULL && (n->path = strdup(path_str(c))) == NULL)
		return pf_error_nomem();
	return NULL;
}

#define PH_NAME_MAX	256

/*
 * Split the string node n into segments.  A string without "{{" that
 * equals a literal PayloadUUID, as the value of a key that names a payload
 * by its UUID (uuid_ref_key()), becomes a single UUID segment, so every
 * profile gets a fresh UUID and references to it stay wired.
 */
static struct pf_error *
compile_string(struct lctx *c, struct pf_tnode *n)
{
	static const char *const reserved[] = {
		"challenge", "user", "template", "run"
	};
	struct pf_error *err;
	const char *s, *o, *cl;
	uint64_t len64 = 0;
	size_t len, i = 0, j, k, nl, nopen = 0, idx, r;

	n->kind = PF_TN_STR;
	s = plist_get_string_ptr(n->src, &len64);
	if (s == NULL)
		return pf_error_fmt(PF_EX_SOFTWARE, "libplist: no string");
	len = (size_t)len64;
	for (o = s; (o = memmem(o, len - (size_t)(o - s), "{{", 2)) != NULL;
	    o += 2)
		nopen++;
	if (nopen == 0) {
		char *lit;

		if (!uuid_ref_key(c) || !is_uuid_literal(c, s))
			return NULL;
		if ((n->segs = calloc(1, sizeof(*n->segs))) == NULL)
			return pf_error_nomem();
		/* Its label: "{" and the literal, which no {{uuid:LABEL}}
		 * can spell (a label holds no brace). */
		if ((lit = malloc(len + 2)) == NULL)
			return pf_error_nomem();
		lit[0] = '{';
		memcpy(lit + 1, s, len);
		lit[len + 1] = '\0';
		err = intern(&c->t->labels, &c->t->nlabels, lit, len + 1, &idx);
		free(lit);
		if (err != NULL)
			return err;
		n->segs[0].kind = PF_SEG_UUID;
		n->segs[0].idx = idx;
		n->nsegs = 1;
		n->dynamic = 1;
		return NULL;
	}
	if ((n->segs = calloc(2 * nopen + 1, sizeof(*n->segs))) == NULL)
		return pf_error_nomem();
	n->dynamic = 1;
	while (i < len) {
		const char *name;
		struct pf_seg *sg;

		o = memmem(s + i, len - i, "{{", 2);
		j = o == NULL ? len : (size_t)(o - s);
		if (j > i) {
			sg = &n->segs[n->nsegs++];
			sg->kind = PF_SEG_LIT;
			sg->lit = s + i;
			sg->len = j - i;
		}
		if (o == NULL)
			break;
		cl = memmem(s + j + 2, len - j - 2, "}}", 2);
		if (cl == NULL)
			return perr(c, "\"{{\" without a closing \"}}\"");
		k = (size_t)(cl - s);
		name = s + j + 2;
		nl = k - j - 2;
		if (nl == 0)
			return perr(c, "empty placeholder \"{{}}\"");
		if (memchr(name, '{', nl) != NULL || memchr(name, '}', nl))
			return perr(c, "malformed placeholder \"%.*s\"",
			    (int)(k + 2 - j > 60 ? 60 : k + 2 - j), s + j);
		if (nl > PH_NAME_MAX)
			return perr(c, "placeholder name longer than %d bytes",
			    PH_NAME_MAX);
		sg = &n->segs[n->nsegs++];
		if (nl == 9 && memcmp(name, "challenge", 9) == 0) {
			sg->kind = PF_SEG_CHALLENGE;
			n->challenge = 1;
		} else if (nl == 4 && memcmp(name, "user", 4) == 0)
			sg->kind = PF_SEG_USER;
		else if (nl == 8 && memcmp(name, "template", 8) == 0)
			sg->kind = PF_SEG_TEMPLATE;
		else if (nl == 3 && memcmp(name, "run", 3) == 0)
			sg->kind = PF_SEG_RUN;
		else if (nl >= 5 && memcmp(name, "uuid:", 5) == 0) {
			if (nl == 5)
				return perr(c, "empty label in \"{{uuid:}}\"");
			sg->kind = PF_SEG_UUID;
			if ((err = intern(&c->t->labels, &c->t->nlabels,
			    name + 5, nl - 5, &sg->idx)) != NULL)
				return err;
		} else if ((nl >= 4 && memcmp(name, "int:", 4) == 0) ||
		    (nl >= 5 && memcmp(name, "bool:", 5) == 0)) {
			size_t pre = name[0] == 'i' ? 4 : 5;

			if (nl == pre)
				return perr(c, "empty column in \"{{%.*s}}\"",
				    (int)nl, name);
			if (j != 0 || k + 2 != len)
				return perr(c, "\"{{%.*s}}\" must be the whole "
				    "string", (int)nl, name);
			free(n->segs);
			n->segs = NULL;
			n->nsegs = 0;
			n->kind = pre == 4 ? PF_TN_INT : PF_TN_BOOL;
			if ((err = set_path(c, n)) != NULL)
				return err;
			return intern(&c->t->columns, &c->t->ncolumns,
			    name + pre, nl - pre, &n->col);
		} else if (memchr(name, ':', nl) != NULL) {
			return perr(c, "unknown placeholder \"{{%.*s}}\"",
			    (int)(nl > 60 ? 60 : nl), name);
		} else {
			sg->kind = PF_SEG_COL;
			for (r = 0; r < nitems(reserved); r++)
				if (strlen(reserved[r]) == nl &&
				    strncasecmp(reserved[r], name, nl) == 0)
					pwarn(c, "\"{{%.*s}}\" is a CSV column; "
					    "did you mean \"{{%s}}\"?", (int)nl,
					    name, reserved[r]);
			if (is_space(name[0]) || is_space(name[nl - 1]))
				pwarn(c, "\"{{%.*s}}\": the column name has "
				    "surrounding spaces", (int)nl, name);
			if ((err = intern(&c->t->columns, &c->t->ncolumns,
			    name, nl, &sg->idx)) != NULL)
				return err;
		}
		i = k + 2;
	}
	return NULL;
}

static struct pf_error *compile(struct lctx *, plist_t, struct pf_tnode *);

static struct pf_error *
compile_dict(struct lctx *c, struct pf_tnode *n)
{
	struct pf_error *err = NULL;
	plist_dict_iter it = NULL;
	size_t ord = c->dict_ord++, i, saved;
	uint32_t size;

	n->kind = PF_TN_DICT;
	size = plist_dict_get_size(n->src);
	if (ord >= c->scan->ndicts || size != c->scan->dictkeys[ord])
		return perr(c, "a key appears twice in this dictionary");
	if (size == 0)
		return NULL;
	n->keys = calloc(size, sizeof(*n->keys));
	n->kids = calloc(size, sizeof(*n->kids));
	if (n->keys == NULL || n->kids == NULL)
		return pf_error_nomem();
	plist_dict_new_iter(n->src, &it);
	if (it == NULL)
		return pf_error_nomem();
	for (i = 0; i < size; i++) {
		char *key = NULL;
		plist_t v = NULL;

		plist_dict_next_item(n->src, it, &key, &v);
		if (key == NULL || v == NULL) {
			free(key);
			err = pf_error_fmt(PF_EX_SOFTWARE,
			    "libplist: short dictionary");
			goto done;
		}
		n->keys[i] = key;
		n->nkids = i + 1;
		saved = path_key(c, key);
		if (strstr(key, "{{") != NULL)
			err = perr(c, "placeholder in a dictionary key");
		else
			err = compile(c, v, &n->kids[i]);
		path_pop(c, saved);
		if (err != NULL)
			goto done;
		n->dynamic |= n->kids[i].dynamic;
	}
done:
	free(it);
	return err;
}

static struct pf_error *
compile_array(struct lctx *c, struct pf_tnode *n)
{
	struct pf_error *err;
	uint32_t size, i;
	size_t saved;

	n->kind = PF_TN_ARRAY;
	size = plist_array_get_size(n->src);
	if (size == 0)
		return NULL;
	if ((n->kids = calloc(size, sizeof(*n->kids))) == NULL)
		return pf_error_nomem();
	for (i = 0; i < size; i++) {
		plist_t v = plist_array_get_item(n->src, i);

		if (v == NULL)
			return pf_error_fmt(PF_EX_SOFTWARE,
			    "libplist: short array");
		n->nkids = i + 1;
		saved = path_index(c, i);
		err = compile(c, v, &n->kids[i]);
		path_pop(c, saved);
		if (err != NULL)
			return err;
		n->dynamic |= n->kids[i].dynamic;
	}
	return NULL;
}

/* Mirror src in n, in document order (the scan's ordinals depend on it). */
static struct pf_error *
compile(struct lctx *c, plist_t src, struct pf_tnode *n)
{
	n->src = src;
	switch (plist_get_node_type(src)) {
	case PLIST_DICT:
		return compile_dict(c, n);
	case PLIST_ARRAY:
		return compile_array(c, n);
	case PLIST_STRING:
		return compile_string(c, n);
	case PLIST_DATA:
		if (++c->data_ord == c->scan->data_ph)
			return perr(c, "placeholder in <data> (only strings "
			    "take placeholders)");
		/* FALLTHROUGH */
	default:
		n->kind = PF_TN_SCALAR;
		return NULL;
	}
}

static void
tnode_free(struct pf_tnode *n)
{
	size_t i;

	for (i = 0; i < n->nkids; i++) {
		if (n->keys != NULL)
			free(n->keys[i]);
		tnode_free(&n->kids[i]);
	}
	free(n->keys);
	free(n->kids);
	free(n->segs);
	free(n->path);
}

/*
 * Schema checks on the compiled tree.
 */
static struct pf_tnode *
tn_get(const struct pf_tnode *d, const char *key)
{
	size_t i;

	if (d->kind != PF_TN_DICT)
		return NULL;
	for (i = 0; i < d->nkids; i++)
		if (strcmp(d->keys[i], key) == 0)
			return &d->kids[i];
	return NULL;
}

/* The string as written in the template, placeholders unexpanded. */
static const char *
tn_raw(const struct pf_tnode *n)
{
	if (n == NULL || n->kind != PF_TN_STR)
		return NULL;
	return plist_get_string_ptr(n->src, NULL);
}

/* The string if it holds no placeholder (and is no literal UUID). */
static const char *
tn_literal(const struct pf_tnode *n)
{
	if (n == NULL || n->kind != PF_TN_STR || n->nsegs != 0)
		return NULL;
	return plist_get_string_ptr(n->src, NULL);
}

/* The type the filled node will have. */
static plist_type
tn_type(const struct pf_tnode *n)
{
	switch (n->kind) {
	case PF_TN_DICT:
		return PLIST_DICT;
	case PF_TN_ARRAY:
		return PLIST_ARRAY;
	case PF_TN_STR:
		return PLIST_STRING;
	case PF_TN_INT:
		return PLIST_UINT;
	case PF_TN_BOOL:
		return PLIST_BOOLEAN;
	default:
		return plist_get_node_type(n->src);
	}
}

static const char *
type_name(plist_type t)
{
	switch (t) {
	case PLIST_BOOLEAN:
		return "boolean";
	case PLIST_UINT:
		return "integer";
	case PLIST_REAL:
		return "real";
	case PLIST_STRING:
		return "string";
	case PLIST_ARRAY:
		return "array";
	case PLIST_DICT:
		return "dictionary";
	case PLIST_DATE:
		return "date";
	case PLIST_DATA:
		return "data";
	default:
		return "unknown";
	}
}

static int
has_seg(const struct pf_tnode *n, enum pf_seg_kind kind)
{
	size_t i;

	for (i = 0; i < n->nsegs; i++)
		if (n->segs[i].kind == kind)
			return 1;
	return 0;
}

static void
join_strs(char *buf, size_t size, const char *const *strs)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; strs[i] != NULL && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s",
		    i ? ", " : "", strs[i]);
}

static void
join_ints(char *buf, size_t size, const long long *v, size_t nv)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < nv && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%lld",
		    i ? ", " : "", v[i]);
}

static struct pf_error *check_dict(struct lctx *, struct pf_tnode *,
    const struct kspec *, const struct kspec *, int);

/* Check node n (path already pushed) against ks. */
static struct pf_error *
check_value(struct lctx *c, struct pf_tnode *n, const struct kspec *ks)
{
	struct pf_error *err;
	plist_type ty = tn_type(n);
	const char *want = NULL;
	char list[256];
	size_t i, saved;
	int ok;

	switch (ks->type) {
	case V_ANY:
		return NULL;
	case V_STRING:
		ok = ty == PLIST_STRING;
		want = "string";
		break;
	case V_INT:
		ok = ty == PLIST_UINT;
		want = "integer";
		break;
	case V_BOOL:
		ok = ty == PLIST_BOOLEAN;
		want = "boolean";
		break;
	case V_REAL:
		ok = ty == PLIST_REAL || ty == PLIST_UINT;
		want = "real";
		break;
	case V_DATE:
		ok = ty == PLIST_DATE;
		want = "date";
		break;
	case V_DATA:
		ok = ty == PLIST_DATA;
		want = "data";
		break;
	case V_DICT:
		ok = ty == PLIST_DICT;
		want = "dictionary";
		break;
	case V_ARRAY:
		ok = ty == PLIST_ARRAY;
		want = "array";
		break;
	case V_STRS:
		ok = ty == PLIST_STRING || ty == PLIST_ARRAY;
		want = "string or array of strings";
		break;
	default:
		ok = 0;
	}
	if (!ok)
		return perr(c, "expected %s, found %s", want, type_name(ty));

	if (ty == PLIST_STRING && ks->strs != NULL) {
		const char *lit = tn_literal(n);

		if (lit == NULL) {
			n->allowed_strs = ks->strs;
			return set_path(c, n);
		}
		for (i = 0; ks->strs[i] != NULL; i++)
			if (strcmp(ks->strs[i], lit) == 0)
				return NULL;
		join_strs(list, sizeof(list), ks->strs);
		if (ks->flags & F_FORCE)
			return tolerable(c, "\"%s\" is not one of %s", lit,
			    list);
		return perr(c, "\"%s\" is not one of %s", lit, list);
	}
	if (ty == PLIST_UINT && ks->nints > 0) {
		uint64_t u = 0;
		long long v;

		if (n->kind == PF_TN_INT) {
			n->allowed_ints = ks->ints;
			n->nallowed_ints = ks->nints;
			return NULL;
		}
		plist_get_uint_val(n->src, &u);
		v = (long long)u;
		for (i = 0; i < ks->nints; i++)
			if (ks->ints[i] == v)
				return NULL;
		join_ints(list, sizeof(list), ks->ints, ks->nints);
		if (ks->flags & F_FORCE)
			return tolerable(c, "%lld is not one of %s", v, list);
		return perr(c, "%lld is not one of %s", v, list);
	}
	if (ty == PLIST_DICT) {
		if (ks->sub != NULL)
			return check_dict(c, n, ks->sub, NULL,
			    !(ks->flags & F_OPEN));
		if (ks->each == NULL)
			return NULL;
		for (i = 0; i < n->nkids; i++) {
			saved = path_key(c, n->keys[i]);
			err = check_value(c, &n->kids[i], ks->each);
			path_pop(c, saved);
			if (err != NULL)
				return err;
		}
		return NULL;
	}
	if (ty == PLIST_ARRAY) {
		const struct kspec *each = ks->type == V_STRS ? &spec_string :
		    ks->each;

		if (ks->min > 0 && n->nkids < ks->min) {
			if (ks->max == ks->min)
				return perr(c, "expected %zu items, found %zu",
				    ks->min, n->nkids);
			return perr(c, "expected at least %zu item%s, found "
			    "%zu", ks->min, ks->min == 1 ? "" : "s",
			    n->nkids);
		}
		if (ks->max > 0 && n->nkids > ks->max)
			return perr(c, "expected %s%zu items, found %zu",
			    ks->max == ks->min ? "" : "at most ", ks->max,
			    n->nkids);
		if (each == NULL)
			return NULL;
		for (i = 0; i < n->nkids; i++) {
			saved = path_index(c, i);
			err = check_value(c, &n->kids[i], each);
			path_pop(c, saved);
			if (err != NULL)
				return err;
		}
	}
	return NULL;
}

static const struct kspec *
spec_find(const struct kspec *table, const char *key)
{
	for (; table != NULL && table->key != NULL; table++)
		if (strcmp(table->key, key) == 0)
			return table;
	return NULL;
}

/*
 * Check the dictionary n against the key tables t1 and t2 (t2 may be
 * NULL): required keys, the type and value of every known key; unknown
 * keys give a warning when warn_unknown is set.
 */
static struct pf_error *
check_dict(struct lctx *c, struct pf_tnode *n, const struct kspec *t1,
    const struct kspec *t2, int warn_unknown)
{
	const struct kspec *tables[2] = { t1, t2 }, *ks;
	struct pf_error *err;
	size_t i, k, saved;

	for (k = 0; k < nitems(tables); k++) {
		for (ks = tables[k]; ks != NULL && ks->key != NULL; ks++) {
			if (!(ks->flags & F_REQ) || tn_get(n, ks->key) != NULL)
				continue;
			saved = path_key(c, ks->key);
			err = perr(c, "required key missing");
			path_pop(c, saved);
			return err;
		}
	}
	for (i = 0; i < n->nkids; i++) {
		saved = path_key(c, n->keys[i]);
		if ((ks = spec_find(t1, n->keys[i])) == NULL)
			ks = spec_find(t2, n->keys[i]);
		err = NULL;
		if (ks != NULL)
			err = check_value(c, &n->kids[i], ks);
		else if (warn_unknown)
			pwarn(c, "unknown key");
		path_pop(c, saved);
		if (err != NULL)
			return err;
	}
	return NULL;
}

/* A key whose value must be literal (the schema depends on it). */
static struct pf_error *
need_literal(struct lctx *c, const struct pf_tnode *d, const char *key)
{
	const struct pf_tnode *n = tn_get(d, key);
	struct pf_error *err = NULL;
	size_t saved;

	if (n != NULL && ((n->kind == PF_TN_STR && n->nsegs > 0) ||
	    n->kind == PF_TN_INT || n->kind == PF_TN_BOOL)) {
		saved = path_key(c, key);
		err = perr(c, "placeholders are not allowed here");
		path_pop(c, saved);
	}
	return err;
}

static int
has_user_data(const struct pf_tnode *n)
{
	return n->kind == PF_TN_STR &&
	    (has_seg(n, PF_SEG_COL) || has_seg(n, PF_SEG_USER));
}

static int
known_rdn_type(const char *s)
{
	static const char *const names[] = { "C", "L", "ST", "O", "OU", "CN" };
	size_t i;
	int digits = 0, dots = 0;

	for (i = 0; i < nitems(names); i++)
		if (strcmp(s, names[i]) == 0)
			return 1;
	/* a dotted OID: digits separated by single dots */
	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s == '.' && digits > 0) {
			dots++;
			digits = 0;
		} else
			return 0;
	}
	return dots > 0 && digits > 0;
}

/* 1 if two Subject attribute types, as templates write them ("CN",
 * "2.5.4.3", "E"), are the same type. */
static int
same_rdn_type(const char *a, const char *b)
{
	int na, nb;

	if (strcmp(a, b) == 0)
		return 1;
	na = strcmp(a, "E") == 0 ? NID_pkcs9_emailAddress : OBJ_txt2nid(a);
	nb = strcmp(b, "E") == 0 ? NID_pkcs9_emailAddress : OBJ_txt2nid(b);
	ERR_clear_error();
	return na != NID_undef && na == nb;
}

/* Bind the value n as well, though it holds no user data: its type also
 * takes user data, and verify-csr wants exactly the profile's values of
 * such a type.  A literal is recorded as it is, anything else as filled. */
static struct pf_error *
bind_also(struct lctx *c, struct pf_tnode *n, enum pf_bind_kind kind,
    const char *name)
{
	const struct pf_tnode **a;

	if (n->kind != PF_TN_STR || n->bind != PF_BIND_NONE)
		return NULL;
	if (n->nsegs > 0)
		c->t->nbind++;
	else {
		if ((a = reallocarray(c->t->fixed, c->t->nfixed + 1,
		    sizeof(*a))) == NULL)
			return pf_error_nomem();
		c->t->fixed = a;
		a[c->t->nfixed++] = n;
	}
	n->bind = kind;
	n->bind_name = name;
	return NULL;
}

/* Does some pair of the Subject subj fill a value of type from user
 * data? */
static int
fills_type(const struct pf_tnode *subj, const char *type)
{
	const struct pf_tnode *v;
	size_t i, j;

	for (i = 0; i < subj->nkids; i++) {
		for (j = 0; j < subj->kids[i].nkids; j++) {
			v = &subj->kids[i].kids[j].kids[1];
			if (v->bind != PF_BIND_NONE && has_user_data(v) &&
			    same_rdn_type(type, v->bind_name))
				return 1;
		}
	}
	return 0;
}

/* The other Subject values of a type that some pair fills from user
 * data. */
static struct pf_error *
bind_subject_literals(struct lctx *c, struct pf_tnode *subj)
{
	struct pf_error *err = NULL;
	struct pf_tnode *p;
	const char *type;
	size_t i, j;

	for (i = 0; i < subj->nkids && err == NULL; i++) {
		for (j = 0; j < subj->kids[i].nkids && err == NULL; j++) {
			p = &subj->kids[i].kids[j];
			if (p->kids[1].bind == PF_BIND_NONE &&
			    (type = tn_literal(&p->kids[0])) != NULL &&
			    fills_type(subj, type))
				err = bind_also(c, &p->kids[1],
				    PF_BIND_SUBJECT, type);
		}
	}
	return err;
}

/*
 * Each entry of the SubjectAltName dictionary san whose type Apple names
 * (a string, or each string of an array): fn(c, entry, type).
 */
static struct pf_error *
each_san(struct lctx *c, struct pf_tnode *san, struct pf_error *(*fn)(
    struct lctx *, struct pf_tnode *, const char *))
{
	struct pf_error *err = NULL;
	struct pf_tnode *v;
	size_t i, j, m;

	for (i = 0; i < san->nkids && err == NULL; i++) {
		v = &san->kids[i];
		m = v->kind == PF_TN_ARRAY ? v->nkids : 1;
		if (spec_find(spec_san, san->keys[i]) == NULL)
			continue;
		for (j = 0; j < m && err == NULL; j++)
			err = fn(c, v->kind == PF_TN_ARRAY ? &v->kids[j] : v,
			    san->keys[i]);
	}
	return err;
}

/* A SubjectAltName entry with user data is bound. */
static struct pf_error *
bind_san_user(struct lctx *c, struct pf_tnode *e, const char *type)
{
	if (has_user_data(e)) {
		e->bind = PF_BIND_SAN;
		e->bind_name = type;
		c->t->nbind++;
	}
	return NULL;
}

/* ... and then every other one. */
static struct pf_error *
bind_san_rest(struct lctx *c, struct pf_tnode *e, const char *type)
{
	return bind_also(c, e, PF_BIND_SAN, type);
}

/* SCEP: the challenge, and bindings of Subject and SubjectAltName values
 * that come from user data (and of the literal values of the same types).
 * Types were checked by check_dict(). */
static struct pf_error *
check_scep(struct lctx *c, struct pf_tnode *p)
{
	struct pf_tnode *pc, *ch, *subj, *san;
	struct pf_error *err = NULL;
	size_t saved, s1, s2, s3, i, j, k;

	pc = tn_get(p, "PayloadContent");
	saved = path_key(c, "PayloadContent");
	if ((ch = tn_get(pc, "Challenge")) == NULL)
		pwarn(c, "no Challenge: the SCEP server must then accept "
		    "requests without one");
	else {
		s1 = path_key(c, "Challenge");
		if (ch->nsegs == 1 && ch->segs[0].kind == PF_SEG_CHALLENGE)
			ch->challenge_ok = 1;
		else if (ch->challenge) {
			err = tolerable(c, "must be exactly \"{{challenge}}\"");
			ch->challenge_ok = 1;
		} else
			err = tolerable(c, "literal challenge: every profile "
			    "would carry the same secret; write "
			    "\"{{challenge}}\"");
		path_pop(c, s1);
		if (err != NULL)
			goto done;
	}
	if ((subj = tn_get(pc, "Subject")) != NULL) {
		s1 = path_key(c, "Subject");
		for (i = 0; i < subj->nkids && err == NULL; i++) {
			struct pf_tnode *rdn = &subj->kids[i];

			s2 = path_index(c, i);
			for (j = 0; j < rdn->nkids && err == NULL; j++) {
				struct pf_tnode *pair = &rdn->kids[j];
				const char *type = tn_literal(&pair->kids[0]);

				s3 = path_index(c, j);
				if (type == NULL) {
					path_index(c, 0);
					err = perr(c, "the attribute type must be "
					    "literal");
				} else {
					if (!known_rdn_type(type)) {
						k = path_index(c, 0);
						pwarn(c, "\"%s\" is neither C, L, "
						    "ST, O, OU, CN nor a dotted "
						    "OID", type);
						path_pop(c, k);
					}
					if (has_user_data(&pair->kids[1])) {
						pair->kids[1].bind =
						    PF_BIND_SUBJECT;
						pair->kids[1].bind_name = type;
						c->t->nbind++;
					}
				}
				path_pop(c, s3);
			}
			path_pop(c, s2);
		}
		path_pop(c, s1);
		if (err == NULL)
			err = bind_subject_literals(c, subj);
		if (err != NULL)
			goto done;
	}
	/* Where user data goes into SubjectAltName, every entry is bound:
	 * the request must carry exactly the profile's names. */
	if ((san = tn_get(pc, "SubjectAltName")) != NULL) {
		size_t before = c->t->nbind;

		if ((err = each_san(c, san, bind_san_user)) == NULL &&
		    c->t->nbind > before)
			err = each_san(c, san, bind_san_rest);
	}
done:
	path_pop(c, saved);
	return err;
}

/* Root and PKCS#1 payloads carry a DER certificate, PEM payloads PEM. */
static struct pf_error *
check_cert(struct lctx *c, struct pf_tnode *p, int pem)
{
	struct pf_error *err = NULL;
	const struct pf_tnode *n = tn_get(p, "PayloadContent");
	const unsigned char *der, *q;
	uint64_t len = 0;
	X509 *x = NULL;
	BIO *bio = NULL;
	size_t saved;

	saved = path_key(c, "PayloadContent");
	der = (const unsigned char *)plist_get_data_ptr(n->src, &len);
	if (der == NULL || len == 0) {
		err = perr(c, "empty certificate");
		goto done;
	}
	if (pem) {
		if ((bio = BIO_new_mem_buf(der, (int)len)) == NULL) {
			err = pf_error_nomem();
			goto done;
		}
		if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL)
			err = perr(c, "not a PEM certificate");
	} else {
		q = der;
		x = d2i_X509(NULL, &q, (long)len);
		if (x == NULL || q != der + len)
			err = perr(c, "not a DER X.509 certificate");
	}
	ERR_clear_error();
done:
	X509_free(x);
	BIO_free(bio);
	path_pop(c, saved);
	return err;
}

/* The literal integer n holds, or -1 (absent, a placeholder, not an
 * integer). */
static long long
tn_int(const struct pf_tnode *n)
{
	uint64_t u = 0;

	if (n == NULL || n->kind != PF_TN_SCALAR ||
	    plist_get_node_type(n->src) != PLIST_UINT)
		return -1;
	plist_get_uint_val(n->src, &u);
	return u > (uint64_t)LLONG_MAX ? -1 : (long long)u;
}

static struct pf_error *
check_wifi(struct lctx *c, struct pf_tnode *p)
{
	struct pf_error *err;
	struct pf_tnode *eap;
	size_t i, saved;

	/* Passpoint networks are found by DomainName instead */
	if (tn_get(p, "SSID_STR") == NULL && tn_get(p, "DomainName") == NULL) {
		saved = path_key(c, "SSID_STR");
		err = perr(c, "required key missing");
		path_pop(c, saved);
		return err;
	}
	eap = tn_get(p, "EAPClientConfiguration");
	if (eap == NULL || tn_get(p, "PayloadCertificateUUID") != NULL)
		return NULL;
	eap = tn_get(eap, "AcceptEAPTypes");
	for (i = 0; eap != NULL && i < eap->nkids; i++) {
		uint64_t v = 0;

		if (eap->kids[i].kind != PF_TN_SCALAR)
			continue;
		plist_get_uint_val(eap->kids[i].src, &v);
		if (v == 13) {
			pwarn(c, "EAP-TLS without PayloadCertificateUUID: the "
			    "device will ask for an identity");
			break;
		}
	}
	return NULL;
}

static struct pf_error *
check_vpn(struct lctx *c, struct pf_tnode *p)
{
	struct pf_error *err = NULL;
	const struct pf_tnode *ike;
	const char *type, *auth;
	size_t saved;

	type = tn_literal(tn_get(p, "VPNType"));
	ike = tn_get(p, "IKEv2");
	if (type != NULL && strcmp(type, "IKEv2") == 0 && ike == NULL) {
		saved = path_key(c, "IKEv2");
		err = perr(c, "required when VPNType is IKEv2");
		path_pop(c, saved);
		return err;
	}
	if (type != NULL && strcmp(type, "AlwaysOn") == 0 &&
	    tn_get(p, "AlwaysOn") == NULL) {
		saved = path_key(c, "AlwaysOn");
		pwarn(c, "missing: VPNType AlwaysOn has no tunnel without it");
		path_pop(c, saved);
	}
	if (ike == NULL)
		return NULL;
	saved = path_key(c, "IKEv2");
	/* what the check below reads must be known here, not filled */
	if ((err = need_literal(c, ike, "CertificateType")) != NULL ||
	    (err = need_literal(c, ike, "ExtendedAuthEnabled")) != NULL) {
		path_pop(c, saved);
		return err;
	}
	auth = tn_literal(tn_get(ike, "AuthenticationMethod"));
	if (auth != NULL && strcmp(auth, "Certificate") == 0 &&
	    tn_get(ike, "PayloadCertificateUUID") == NULL)
		pwarn(c, "AuthenticationMethod Certificate without "
		    "PayloadCertificateUUID");
	if (tn_get(ike, "CertificateType") != NULL &&
	    tn_int(tn_get(ike, "ExtendedAuthEnabled")) == 1 &&
	    tn_get(ike, "ServerCertificateIssuerCommonName") == NULL) {
		path_key(c, "ServerCertificateIssuerCommonName");
		err = perr(c, "required when CertificateType is set and "
		    "ExtendedAuthEnabled is 1");
	}
	path_pop(c, saved);
	return err;
}

/* ACME: the key size each key type allows (where all three are literal). */
static struct pf_error *
check_acme(struct lctx *c, struct pf_tnode *p)
{
	const struct pf_tnode *hb = tn_get(p, "HardwareBound");
	const char *type = tn_literal(tn_get(p, "KeyType"));
	long long size = tn_int(tn_get(p, "KeySize"));
	struct pf_error *err = NULL;
	uint8_t bound = 0;
	size_t saved;

	/* the sizes allowed depend on these three: known here, not filled */
	if ((err = need_literal(c, p, "KeyType")) != NULL ||
	    (err = need_literal(c, p, "KeySize")) != NULL ||
	    (err = need_literal(c, p, "HardwareBound")) != NULL)
		return err;
	if (type == NULL || size < 0 || hb == NULL ||
	    hb->kind != PF_TN_SCALAR)
		return NULL;
	plist_get_bool_val(hb->src, &bound);
	saved = path_key(c, "KeySize");
	if (strcmp(type, "RSA") == 0) {
		if (size < 1024 || size > 4096 || size % 8 != 0)
			err = perr(c, "%lld: an RSA key is 1024 to 4096 bits, "
			    "a multiple of 8", size);
		else if (bound) {
			path_pop(c, saved);
			saved = path_key(c, "HardwareBound");
			err = perr(c, "a hardware-bound key must be "
			    "ECSECPrimeRandom");
		}
	} else if (bound && size != 256 && size != 384)
		err = perr(c, "%lld: a hardware-bound key is 256 or 384 bits",
		    size);
	else if (size != 192 && size != 256 && size != 384 && size != 521)
		err = perr(c, "%lld: an ECSECPrimeRandom key is 192, 256, 384 "
		    "or 521 bits", size);
	path_pop(c, saved);
	return err;
}

/* Payload i of the top-level PayloadContent (path pushed). */
static struct pf_error *
check_payload(struct lctx *c, struct pf_tnode *p)
{
	const struct kspec *specific = NULL;
	struct pf_error *err;
	const char *type;
	size_t i;

	if (p->kind != PF_TN_DICT)
		return perr(c, "expected dictionary, found %s",
		    type_name(tn_type(p)));
	if ((err = need_literal(c, p, "PayloadType")) != NULL)
		return err;
	type = tn_literal(tn_get(p, "PayloadType"));
	for (i = 0; type != NULL && i < nitems(payload_specs); i++)
		if (strcmp(payload_specs[i].type, type) == 0)
			specific = payload_specs[i].keys;
	if ((err = check_dict(c, p, spec_common, specific,
	    specific != NULL)) != NULL)
		return err;
	if (strcmp(type, SCEP_TYPE) == 0)
		return check_scep(c, p);
	if (strcmp(type, ROOT_TYPE) == 0 || strcmp(type, PKCS1_TYPE) == 0)
		return check_cert(c, p, 0);
	if (strcmp(type, PEM_TYPE) == 0)
		return check_cert(c, p, 1);
	if (strcmp(type, WIFI_TYPE) == 0)
		return check_wifi(c, p);
	if (strcmp(type, VPN_TYPE) == 0)
		return check_vpn(c, p);
	if (strcmp(type, ACME_TYPE) == 0)
		return check_acme(c, p);
	return NULL;
}

/* The top-level PayloadIdentifier must be the same for a user and
 * template on every run: a device replaces a profile by it. */
static struct pf_error *
check_identifier(struct lctx *c, const struct pf_tnode *n)
{
	struct pf_error *err = NULL;
	size_t saved;

	if (n == NULL || n->kind != PF_TN_STR)
		return NULL;
	saved = path_key(c, "PayloadIdentifier");
	if (has_seg(n, PF_SEG_CHALLENGE) || has_seg(n, PF_SEG_UUID) ||
	    has_seg(n, PF_SEG_RUN))
		err = perr(c, "{{challenge}}, {{uuid:...}} and {{run}} are "
		    "not allowed: the identifier must stay the same for a "
		    "user and template, so that a device replaces the "
		    "profile");
	else if (has_seg(n, PF_SEG_COL))
		pwarn(c, "a column changes the identifier when its value "
		    "changes, and a device then installs the new profile "
		    "beside the old one: use {{user}} (the key) unless the "
		    "column is the key column");
	path_pop(c, saved);
	return err;
}

static struct pf_error *
check_top(struct lctx *c, struct pf_tnode *root)
{
	struct pf_error *err;
	struct pf_tnode *pc, *a, *b;
	const char *ka, *kb;
	size_t i, j, k, saved;
	static const char *const unique[] = {
		"PayloadIdentifier", "PayloadUUID"
	};

	if ((err = need_literal(c, root, "PayloadType")) != NULL ||
	    (err = check_dict(c, root, spec_top, NULL, 1)) != NULL ||
	    (err = check_identifier(c, tn_get(root, "PayloadIdentifier"))) !=
	    NULL)
		return err;
	pc = tn_get(root, "PayloadContent");
	c->t->ptypes = calloc(pc->nkids, sizeof(*c->t->ptypes));
	if (c->t->ptypes == NULL)
		return pf_error_nomem();
	for (i = 0; i < pc->nkids; i++) {
		saved = path_key(c, "PayloadContent");
		path_index(c, i);
		err = check_payload(c, &pc->kids[i]);
		path_pop(c, saved);
		if (err != NULL)
			return err;
		c->t->ptypes[i] = tn_literal(tn_get(&pc->kids[i],
		    "PayloadType"));
		c->t->npayloads = i + 1;
	}

	/* a PayloadUUID must be new in every profile: a literal is
	 * replaced, {{uuid:LABEL}} is made; anything else could repeat */
	for (i = 0; i <= pc->nkids; i++) {
		a = tn_get(i < pc->nkids ? &pc->kids[i] : root, "PayloadUUID");
		if (a == NULL || a->kind != PF_TN_STR || a->nsegs == 0 ||
		    (a->nsegs == 1 && a->segs[0].kind == PF_SEG_UUID))
			continue;
		if (i < pc->nkids) {
			saved = path_key(c, "PayloadContent");
			path_index(c, i);
			path_key(c, "PayloadUUID");
		} else
			saved = path_key(c, "PayloadUUID");
		err = perr(c, "only {{uuid:LABEL}} or a literal (replaced in "
		    "every profile) keeps it unique; other placeholders can "
		    "repeat it");
		path_pop(c, saved);
		return err;
	}

	/* where a placeholder makes a PayloadIdentifier, the filled ones
	 * are compared too (profile.c) */
	for (i = 0, k = 0; i < pc->nkids; i++) {
		if ((a = tn_get(&pc->kids[i], "PayloadIdentifier")) == NULL)
			continue;
		a->payload_id = i + 1;
		k |= a->nsegs > 0;
	}
	if (k && pc->nkids > 1) {
		c->t->pids = calloc(pc->nkids, sizeof(*c->t->pids));
		if (c->t->pids == NULL)
			return pf_error_nomem();
		for (i = 0; i < pc->nkids; i++)
			c->t->pids[i] = tn_get(&pc->kids[i],
			    "PayloadIdentifier");
	}

	/* unique within the profile; UUIDs also against the top level */
	for (k = 0; k < nitems(unique); k++) {
		for (i = 0; i < pc->nkids; i++) {
			a = tn_get(&pc->kids[i], unique[k]);
			ka = tn_raw(a);
			for (j = 0; j <= i; j++) {
				b = j < i ? tn_get(&pc->kids[j], unique[k]) :
				    (k == 1 ? tn_get(root, unique[k]) : NULL);
				kb = tn_raw(b);
				if (ka == NULL || kb == NULL ||
				    strcmp(ka, kb) != 0)
					continue;
				saved = path_key(c, "PayloadContent");
				path_index(c, i);
				path_key(c, unique[k]);
				if (j < i)
					err = perr(c, "\"%s\" is also the %s of "
					    "PayloadContent[%zu]", ka,
					    unique[k], j);
				else
					err = perr(c, "\"%s\" is also the "
					    "profile's PayloadUUID", ka);
				path_pop(c, saved);
				return err;
			}
		}
	}
	return NULL;
}

/* The payload whose PayloadUUID is s as written, or NULL. */
static const struct pf_tnode *
payload_by_uuid(const struct pf_tnode *root, const char *s)
{
	const struct pf_tnode *pc = tn_get(root, "PayloadContent");
	const char *u;
	size_t i;

	for (i = 0; s != NULL && i < pc->nkids; i++) {
		u = tn_raw(tn_get(&pc->kids[i], "PayloadUUID"));
		if (u != NULL && strcmp(u, s) == 0)
			return &pc->kids[i];
	}
	return NULL;
}

/* Is the payload p of one of the types in list? */
static int
payload_is(const struct pf_tnode *p, const char *const *list)
{
	const char *type = tn_literal(tn_get(p, "PayloadType"));
	size_t i;

	for (i = 0; type != NULL && list[i] != NULL; i++)
		if (strcmp(type, list[i]) == 0)
			return 1;
	return 0;
}

/* Payloads that give a device an identity (a private key), and payloads
 * that hold a certificate to trust. */
static const char *const identity_types[] = {
	SCEP_TYPE, ACME_TYPE, PKCS12_TYPE, NULL
};
static const char *const anchor_types[] = {
	ROOT_TYPE, PKCS1_TYPE, PEM_TYPE, NULL
};

/* The reference s (PayloadCertificateUUID if identity, else an item of
 * PayloadCertificateAnchorUUID) must name a payload of the right kind. */
static struct pf_error *
check_ref(struct lctx *c, const struct pf_tnode *root, const char *s,
    int identity)
{
	const struct pf_tnode *p = payload_by_uuid(root, s);

	if (p == NULL)
		return perr(c, "\"%s\" is not the PayloadUUID of a payload in "
		    "this profile", s);
	if (identity && !payload_is(p, identity_types))
		return perr(c, "\"%s\" is the PayloadUUID of a payload that "
		    "holds no identity (a SCEP, ACME or PKCS#12 payload does)",
		    s);
	if (!identity && !payload_is(p, anchor_types))
		return perr(c, "\"%s\" is the PayloadUUID of a payload that "
		    "holds no certificate to trust (a root, PKCS#1 or PEM "
		    "payload does)", s);
	return NULL;
}

/*
 * Every PayloadCertificateUUID, and every PayloadCertificateAnchorUUID
 * item, must name a payload of this profile; {{challenge}} may appear
 * only where check_scep() allowed it, and once.
 */
static struct pf_error *
check_refs(struct lctx *c, const struct pf_tnode *root, struct pf_tnode *n)
{
	struct pf_error *err = NULL;
	size_t i, j, saved, s2;

	if (n->kind == PF_TN_STR && n->challenge) {
		if (!n->challenge_ok)
			return perr(c, "{{challenge}} is allowed only as the "
			    "Challenge of a SCEP payload");
		if (c->t->nsecret > 0)
			return perr(c, "a second SCEP payload with "
			    "{{challenge}}: a profile carries one one-time "
			    "challenge, and the second enrolment would be "
			    "refused; put each SCEP payload in a template of "
			    "its own");
		c->t->has_challenge = 1;
		c->t->nsecret++;
	}
	for (i = 0; i < n->nkids && err == NULL; i++) {
		struct pf_tnode *k = &n->kids[i];
		const char *key = n->kind == PF_TN_DICT ? n->keys[i] : NULL;

		saved = key != NULL ? path_key(c, key) : path_index(c, i);
		if (key != NULL && strcmp(key, "PayloadCertificateUUID") == 0) {
			if (k->kind != PF_TN_STR)
				err = perr(c, "expected string, found %s",
				    type_name(tn_type(k)));
			else
				err = check_ref(c, root, tn_raw(k), 1);
		} else if (key != NULL &&
		    strcmp(key, "PayloadCertificateAnchorUUID") == 0 &&
		    k->kind == PF_TN_ARRAY) {
			for (j = 0; j < k->nkids && err == NULL; j++) {
				s2 = path_index(c, j);
				if (k->kids[j].kind == PF_TN_STR)
					err = check_ref(c, root,
					    tn_raw(&k->kids[j]), 0);
				path_pop(c, s2);
			}
		}
		if (err == NULL)
			err = check_refs(c, root, k);
		path_pop(c, saved);
	}
	return err;
}

/* Literal PayloadUUIDs of the profile and its payloads (borrowed). */
static struct pf_error *
collect_uuid_literals(struct lctx *c, plist_t root)
{
	plist_t pc, u;
	uint32_t i, n = 0;
	const char *s;

	pc = plist_dict_get_item(root, "PayloadContent");
	if (pc != NULL && plist_get_node_type(pc) == PLIST_ARRAY)
		n = plist_array_get_size(pc);
	c->uuid_lits = calloc((size_t)n + 1, sizeof(*c->uuid_lits));
	if (c->uuid_lits == NULL)
		return pf_error_nomem();
	for (i = 0; i <= n; i++) {
		plist_t d = i == n ? root : plist_array_get_item(pc, i);

		if (d == NULL || plist_get_node_type(d) != PLIST_DICT)
			continue;
		u = plist_dict_get_item(d, "PayloadUUID");
		if (u == NULL || plist_get_node_type(u) != PLIST_STRING)
			continue;
		s = plist_get_string_ptr(u, NULL);
		if (s != NULL && *s != '\0' && strstr(s, "{{") == NULL)
			c->uuid_lits[c->nuuid_lits++] = s;
	}
	qsort(c->uuid_lits, c->nuuid_lits, sizeof(*c->uuid_lits), cmp_str);
	return NULL;
}

struct pf_error *
pf_template_load(struct pf_template **out, const char *label,
    const char *xml, size_t len, int force, const struct pf_warn *warn)
{
	struct pf_error *err = NULL;
	struct pf_template *t = NULL;
	struct scan s;
	struct lctx c;
	plist_t root = NULL;
	char *lf = NULL;
	size_t *crs = NULL, i;

	*out = NULL;
	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	s.label = label != NULL ? label : "template";
	if (len > PF_TEMPLATE_MAX_BYTES) {
		err = pf_error_fmt(PF_EX_DATAERR, "%s: %zu bytes; a template "
		    "may have at most %d", s.label, len,
		    PF_TEMPLATE_MAX_BYTES);
		goto done;
	}
	if (len >= 6 && memcmp(xml, "bplist", 6) == 0) {
		err = pf_error_fmt(PF_EX_DATAERR, "%s: a binary plist; convert "
		    "it to XML (plistutil -f xml -i FILE)", s.label);
		goto done;
	}
	if (len >= 3 && memcmp(xml, "\xef\xbb\xbf", 3) == 0) {
		xml += 3;
		len -= 3;
	}
	for (i = 0; i < len && is_space(xml[i]); i++)
		;
	if (i == len || xml[i] != '<') {
		err = pf_error_fmt(PF_EX_DATAERR, "%s: not an XML plist",
		    s.label);
		goto done;
	}
	/*
	 * Line ends as an XML parser reads them (XML 1.0, 2.11): CR LF and a
	 * lone CR are LF, so a template saved with CR LF gives the values a
	 * device reads from it ("a\r\nb" is "a\nb").  A CR written as
	 * "&#13;" stays one.
	 */
	if (memchr(xml, '\r', len) != NULL) {
		size_t j, k = 0;

		if ((lf = malloc(len)) == NULL ||
		    (crs = calloc(len, sizeof(*crs))) == NULL) {
			err = pf_error_nomem();
			goto done;
		}
		for (j = 0; j < len; j++) {
			if (xml[j] != '\r')
				lf[k++] = xml[j];
			else if (j + 1 == len || xml[j + 1] != '\n') {
				crs[s.ncrs++] = k;
				lf[k++] = '\n';
			}
		}
		xml = lf;
		len = k;
		s.crs = crs;
	}
	if ((err = prescan(&s, xml, len)) != NULL)
		goto done;
	plist_from_xml(xml, (uint32_t)len, &root);
	if (root == NULL) {
		err = pf_error_fmt(PF_EX_DATAERR, "%s: not a valid XML plist",
		    s.label);
		goto done;
	}
	if (plist_get_node_type(root) != PLIST_DICT) {
		err = pf_error_fmt(PF_EX_DATAERR, "%s: root: expected "
		    "dictionary, found %s", s.label,
		    type_name(plist_get_node_type(root)));
		goto done;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	t->root = root;
	root = NULL;

	c.t = t;
	c.label = s.label;
	c.force = force;
	c.warn = warn;
	c.scan = &s;
	if ((err = collect_uuid_literals(&c, t->root)) != NULL ||
	    (err = compile(&c, t->root, &t->tree)) != NULL ||
	    (err = check_top(&c, &t->tree)) != NULL ||
	    (err = check_refs(&c, &t->tree, &t->tree)) != NULL ||
	    (err = pf_profile_compile(t)) != NULL)
		goto done;
	t->identifier = tn_raw(tn_get(&t->tree, "PayloadIdentifier"));
	t->display_name = tn_raw(tn_get(&t->tree, "PayloadDisplayName"));
	*out = t;
	t = NULL;
done:
	plist_free(root);
	pf_template_free(t);
	free(s.dictkeys);
	free(c.uuid_lits);
	free(lf);
	free(crs);
	return err;
}

void
pf_template_free(struct pf_template *t)
{
	size_t i;

	if (t == NULL)
		return;
	tnode_free(&t->tree);
	if (t->root != NULL)
		plist_free(t->root);
	for (i = 0; i < t->ncolumns; i++)
		free(t->columns[i]);
	free(t->columns);
	for (i = 0; i < t->nlabels; i++)
		free(t->labels[i]);
	free(t->labels);
	free(t->ptypes);
	free(t->skel_xml);
	free(t->skel);
	free(t->fixed);
	free(t->pids);
	free(t);
}

size_t
pf_template_ncolumns(const struct pf_template *t)
{
	return t->ncolumns;
}

const char *
pf_template_column(const struct pf_template *t, size_t i)
{
	return i < t->ncolumns ? t->columns[i] : NULL;
}

int
pf_template_has_challenge(const struct pf_template *t)
{
	return t->has_challenge;
}

const char *
pf_template_identifier(const struct pf_template *t)
{
	return t->identifier;
}

const char *
pf_template_display_name(const struct pf_template *t)
{
	return t->display_name;
}

size_t
pf_template_npayloads(const struct pf_template *t)
{
	return t->npayloads;
}

const char *
pf_template_payload_type(const struct pf_template *t, size_t i)
{
	return i < t->npayloads ? t->ptypes[i] : NULL;
}
