//! The `tracing` bridge: a library instrumented only with `tracing`
//! (`#[tracing::instrument]`, `info!`), called from a `#[dn::task]`. With
//! `dn::tracing_layer()` in the subscriber, its spans become dn light spans
//! nested under the task and its events become span events.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Stands in for an HTTP client crate that knows nothing of dn.
mod weather_client {
    #[tracing::instrument(fields(http.request.method = "GET"))]
    pub async fn fetch_forecast(city: &str) -> f64 {
        tracing::info!(url = %format!("https://weather.example/v1/{city}"), "request sent");
        tokio::task::yield_now().await;
        tracing::info!(http.response.status_code = 200, "response received");
        21.5
    }
}

#[dn::task]
async fn plan_trip(city: String) -> String {
    let celsius = weather_client::fetch_forecast(&city).await;
    dn::log_metric("forecast_celsius", celsius);
    if celsius > 20.0 { "pack sunscreen".into() } else { "pack a coat".into() }
}

#[tokio::main]
async fn main() -> Result<(), dn::Error> {
    // dn's layer beside a log printer (to stderr); `tracing` spans outside
    // dn spans are not recorded.
    tracing_subscriber::registry()
        .with(dn::tracing_layer())
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    dn::configure(dn::Config::new())?;

    let run = dn::run("trip-planning").start();
    let advice = run.clone().instrument(plan_trip("Lisbon".into())).await;
    println!("plan_trip: {advice}");
    let file = dn::instance().spans_file(&run)?;
    dn::shutdown();
    println!("wrote: {}", file.display());
    Ok(())
}
