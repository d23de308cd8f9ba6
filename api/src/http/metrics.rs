//! Prometheus metrics of the API process, served at `GET /metrics`.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

/// The API's metrics and the registry that holds them.
pub struct Metrics {
    registry: Registry,
    /// Requests by method, route pattern and status.
    pub requests: IntCounterVec,
    /// Latency by method and route pattern.
    pub latency: HistogramVec,
    /// Events appended by committed commands.
    pub events_appended: IntCounter,
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("confer_http_requests_total", "HTTP requests served"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("confer_http_request_duration_seconds", "HTTP request latency")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["method", "route"],
        )?;
        let events_appended = IntCounter::new("confer_events_appended_total", "Events appended to the log")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(events_appended.clone()))?;
        Ok(Self { registry, requests, latency, events_appended })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on metric families that cannot exist here.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
