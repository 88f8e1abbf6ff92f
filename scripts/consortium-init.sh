# Sourced by scripts/demo-consortium.sh and bench/dicomweb_bench.sh: creates a consortium of
# loopback sites with the real `dm2 ca` and `dm2 roster` commands, as an operator would.
# consortium_init DM2 DIR NET COUNT NAME [EXTRA_TOML]
#   DIR/consortium (the CA), DIR/site-i/identity, DIR/site-i.toml (HTTPS NET.i:8443, DHT
#   NET.i:6881, EXTRA_TOML appended to its [consortium] section) and DIR/roster.json, signed
#   (version 1), for sites 1..COUNT.
consortium_init() {
  local dm2="$1" dir="$2" net="$3" count="$4" name="$5" extra="${6:-}" i
  mkdir -p "$dir"
  "$dm2" ca init --dir "$dir/consortium" --name "$name" > /dev/null
  for i in $(seq "$count"); do
    "$dm2" ca issue-site "site-$i" --ca-dir "$dir/consortium" --out "$dir/site-$i/identity" \
      --ip "$net.$i" --dns localhost > /dev/null
    "$dm2" roster add --roster "$dir/roster.json" --site-dir "$dir/site-$i/identity" \
      --https "$net.$i:8443" --dht "$net.$i:6881" > /dev/null
    cat > "$dir/site-$i.toml" <<TOML
[node]
data_dir = "$dir/site-$i"
site_name = "site-$i"
[https]
listen = "$net.$i:8443"
[dht]
listen = "$net.$i:6881"
[consortium]
roster = "$dir/roster.json"
public_key = "$(cat "$dir/consortium/consortium.pub")"
$extra
TOML
  done
  "$dm2" roster sign --roster "$dir/roster.json" --ca-dir "$dir/consortium" > /dev/null
}
