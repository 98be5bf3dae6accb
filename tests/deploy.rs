//! The deployment files of `deploy/` are valid: the configurations load with
//! `onrust run --check-config`, the YAML parses and has what a platform team
//! relies on (probes, limits, a disruption budget, every compose service).

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::{onrust, root, stderr, TempDir};

fn check_config(config: &Path) {
    let output = onrust()
        .args([
            "run",
            "--check-config",
            "--config",
            &config.display().to_string(),
        ])
        .env("ONRUST_API_TOKEN", "t")
        .env("ONRUST_WEBHOOK_SECRET", "s")
        .env("ONRUST_AUTHOR_KEY", "a key of sixteen bytes or more")
        .output()
        .expect("run onrust");
    assert!(
        output.status.success(),
        "{}: {}",
        config.display(),
        stderr(&output)
    );
}

fn yaml(path: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_example_and_compose_configurations_load() {
    check_config(&root().join("deploy/onrust.example.toml"));
    // The compose file's copy names the container paths; check it beside the areas.
    let dir = TempDir::new("deploy-compose");
    let compose =
        std::fs::read_to_string(root().join("deploy/onrust.compose.toml")).expect("compose config");
    std::fs::write(dir.path().join("onrust.toml"), compose).expect("write");
    std::fs::copy(
        root().join("deploy/areas.example.geojson"),
        dir.path().join("areas.example.geojson"),
    )
    .expect("copy areas");
    check_config(&dir.path().join("onrust.toml"));
}

#[test]
fn the_kubernetes_manifests_have_probes_limits_and_a_disruption_budget() {
    let mut kinds = Vec::new();
    for file in [
        "deployment.yaml",
        "service.yaml",
        "configmap.yaml",
        "pdb.yaml",
    ] {
        for document in yaml(&format!("deploy/k8s/{file}")) {
            kinds.push(document["kind"].as_str().unwrap_or("").to_string());
            if document["kind"].as_str() == Some("Deployment") {
                let container = &document["spec"]["template"]["spec"]["containers"][0];
                assert_eq!(
                    container["readinessProbe"]["httpGet"]["path"].as_str(),
                    Some("/readyz")
                );
                assert_eq!(
                    container["livenessProbe"]["httpGet"]["path"].as_str(),
                    Some("/healthz")
                );
                assert!(container["resources"]["limits"]["memory"]
                    .as_str()
                    .is_some());
                assert_eq!(
                    document["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
                        .as_bool(),
                    Some(true)
                );
            }
            if document["kind"].as_str() == Some("ConfigMap") {
                // The configuration it carries loads, with its areas file.
                let dir = TempDir::new("deploy-k8s");
                for key in ["onrust.toml", "areas.geojson"] {
                    let text = document["data"][key].as_str().expect("config map entry");
                    std::fs::write(dir.path().join(key), text).expect("write");
                }
                check_config(&dir.path().join("onrust.toml"));
            }
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Deployment",
            "PersistentVolumeClaim",
            "PodDisruptionBudget",
            "Service"
        ]
    );
}

#[test]
fn the_compose_file_runs_kafka_onrust_prometheus_grafana_and_a_receiver() {
    let compose = &yaml("deploy/docker-compose.yml")[0];
    for service in [
        "kafka",
        "topics",
        "onrust",
        "prometheus",
        "grafana",
        "receiver",
    ] {
        assert!(
            !compose["services"][service].is_badvalue(),
            "service {service} missing"
        );
    }
    let mounts: Vec<&str> = compose["services"]["grafana"]["volumes"]
        .as_vec()
        .expect("grafana volumes")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(mounts
        .iter()
        .any(|m| m.starts_with("./grafana/onrust.json")));
    for path in [
        "deploy/grafana/provisioning/datasources/prometheus.yml",
        "deploy/grafana/provisioning/dashboards/onrust.yml",
    ] {
        assert_eq!(yaml(path)[0]["apiVersion"].as_i64(), Some(1), "{path}");
    }
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).expect("Dockerfile");
    assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage");
    assert!(dockerfile.contains("USER onrust"), "non-root");
}
