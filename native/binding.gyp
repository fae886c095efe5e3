{
  "targets": [
    {
      "target_name": "sockrelay",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/sockaddr.cc",
        "src/fd-util.cc",
        "src/notify.cc",
        "src/listen.cc",
        "src/relay-engine.cc",
        "src/relay-common.cc",
        "src/relay-connection.cc",
        "src/relay-core.cc",
        "src/relay-events.cc",
        "src/relay-gate.cc",
        "src/relay-histogram.cc",
        "src/relay-loop.cc",
        "src/relay-options.cc",
        "src/relay-connect.cc",
        "src/relay-handover.cc",
        "src/relay-handover-js.cc",
        "src/relay-proxy-header.cc",
        "src/relay-socket-options.cc",
        "src/udp-relay.cc",
        "src/udp-options.cc",
        "src/udp-core.cc",
        "src/udp-forward.cc",
        "src/udp-session.cc",
        "src/udp-pktinfo.cc",
        "src/udp-events.cc",
        "src/udp-addr-text.cc",
        "src/udp-handover.cc",
        "src/udp-handover-js.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
