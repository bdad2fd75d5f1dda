//! A client address as people pass it around: `<provider id hex>:<client id hex>`.

use crate::node_id::NodeId;
use crate::topology::ClientAddress;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AddressTextError {
    #[error("address {0:?} is not <provider hex>:<client hex>")]
    Shape(String),
    #[error("{what} id {text:?} is not 32 bytes of hex")]
    Id { what: &'static str, text: String },
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            hex::encode(self.provider.0),
            hex::encode(self.client.0)
        )
    }
}

impl FromStr for ClientAddress {
    type Err = AddressTextError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (p, c) = s
            .split_once(':')
            .ok_or_else(|| AddressTextError::Shape(s.to_string()))?;
        let id = |text: &str, what: &'static str| {
            let bad = || AddressTextError::Id {
                what,
                text: text.to_string(),
            };
            let bytes: [u8; 32] = hex::decode(text)
                .map_err(|_| bad())?
                .try_into()
                .map_err(|_| bad())?;
            Ok(NodeId(bytes))
        };
        Ok(ClientAddress {
            provider: id(p, "provider")?,
            client: id(c, "client")?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn addresses_round_trip_through_text_and_bad_text_is_refused() {
        let a = ClientAddress {
            provider: NodeId([1; 32]),
            client: NodeId([2; 32]),
        };
        assert_eq!(a.to_string().parse::<ClientAddress>(), Ok(a));
        assert!(matches!(
            "abc".parse::<ClientAddress>(),
            Err(AddressTextError::Shape(_))
        ));
        let short = format!("{}:00", hex::encode([1; 32]));
        assert!(matches!(
            short.parse::<ClientAddress>(),
            Err(AddressTextError::Id { what: "client", .. })
        ));
    }
}
