//! SigV4 for the Invoke API, with credentials from the standard AWS chain (environment,
//! profile, web identity for Kubernetes service accounts, container and instance metadata).

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderName, HeaderValue};
use sluice_core::sink::SinkError;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

pub(crate) struct Signer {
    region: String,
    provider: SharedCredentialsProvider,
    /// The chain's answer, kept until near its expiry: resolving may be a network call (STS
    /// for web identity), and it must not happen once per batch.
    cached: Mutex<Option<Credentials>>,
}

impl Signer {
    /// Load the chain; `region` (the config's or the ARN's) wins over the environment's.
    pub(crate) async fn load(region: Option<String>) -> Result<Signer, SinkError> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r));
        }
        let config = loader.load().await;
        // Configuration the environment lacks holds the records (like an unreachable target)
        // rather than failing them towards the dead-letter path: fixing it delivers them.
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            SinkError::Connection(
                "no AWS Region: set target.lambda.region, use a function ARN, or set AWS_REGION"
                    .into(),
            )
        })?;
        let provider = config.credentials_provider().ok_or_else(|| {
            SinkError::Connection("no AWS credentials provider is configured".into())
        })?;
        Ok(Signer {
            region,
            provider,
            cached: Mutex::new(None),
        })
    }

    /// A signer with given credentials (tests).
    #[cfg(test)]
    fn with(region: &str, credentials: Credentials) -> Signer {
        Signer {
            region: region.to_owned(),
            provider: SharedCredentialsProvider::new(credentials),
            cached: Mutex::new(None),
        }
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    async fn credentials(&self) -> Result<Credentials, SinkError> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE)
        };
        if let Some(c) = self
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|c| fresh(c))
        {
            return Ok(c.clone());
        }
        // No credentials yet: like a target that cannot be reached, retried until they come.
        let c = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| SinkError::Connection(format!("no AWS credentials: {e}")))?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
        Ok(c)
    }

    /// The headers that sign a POST of `body` to `uri` carrying `headers`.
    pub(crate) async fn sign(
        &self,
        uri: &http::Uri,
        headers: &[(HeaderName, HeaderValue)],
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, SinkError> {
        let identity: Identity = self.credentials().await?.into();
        let failed = |e: &dyn std::fmt::Display| SinkError::Failed(format!("signing: {e}"));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let signed_headers = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let request = SignableRequest::new(
            "POST",
            uri.to_string(),
            signed_headers,
            SignableBody::Bytes(body),
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _) = sign(request, &params).map_err(|e| failed(&e))?.into_parts();
        let (new_headers, _) = instructions.into_parts();
        new_headers
            .into_iter()
            .map(|h| {
                let name = HeaderName::try_from(h.name()).map_err(|e| failed(&e))?;
                let mut value = HeaderValue::try_from(h.value()).map_err(|e| failed(&e))?;
                value.set_sensitive(h.sensitive());
                Ok((name, value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_signed_for_lambda_in_the_region_with_the_session_token() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test");
        let signer = Signer::with("eu-west-1", creds);
        let uri: http::Uri =
            "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/f/invocations"
                .parse()
                .unwrap();
        let headers = [(
            HeaderName::from_static("x-amz-invocation-type"),
            HeaderValue::from_static("RequestResponse"),
        )];
        let signed = signer.sign(&uri, &headers, b"{}").await.unwrap();
        let get = |n: &str| {
            signed
                .iter()
                .find(|(k, _)| k == n)
                .and_then(|(_, v)| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let auth = get("authorization");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/eu-west-1/lambda/aws4_request"), "{auth}");
        assert!(auth.contains("x-amz-invocation-type"), "signed: {auth}");
        assert_eq!(get("x-amz-security-token"), "token");
        assert_eq!(get("x-amz-date").len(), 16);
    }
}
