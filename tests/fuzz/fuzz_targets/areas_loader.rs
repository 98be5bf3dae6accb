//! The areas loader on any text: areas that can locate points and places, or an
//! error with a reason; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onrust_signal::{Areas, GeoPoint};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match Areas::from_geojson(text) {
        Ok(areas) => {
            for area in areas.iter() {
                assert!(!area.id.is_empty());
                let _ = areas.named(&area.name);
            }
            for (lat, lon) in [(52.37, 4.89), (0.0, 0.0), (-90.0, 180.0), (90.0, -180.0)] {
                let _ = areas.at(GeoPoint { lat, lon });
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
