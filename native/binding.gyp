{
  "targets": [
    {
      "target_name": "sockrelay",
      "sources": [
        "src/core/address-text.cc",
        "src/core/address.cc",
        "src/core/errno-kind.cc",
        "src/core/event-loop.cc",
        "src/core/proxy-header.cc",
        "src/core/transparent.cc",
        "src/dgram/events.cc",
        "src/dgram/forward.cc",
        "src/dgram/handover.cc",
        "src/dgram/pktinfo.cc",
        "src/dgram/relay.cc",
        "src/dgram/session-table.cc",
        "src/dgram/loop-guard.cc",
        "src/dgram/session.cc",
        "src/js/addon.cc",
        "src/js/address.cc",
        "src/js/dgram-handover.cc",
        "src/js/dgram-options.cc",
        "src/js/dgram-relay.cc",
        "src/js/errors.cc",
        "src/js/fd-util.cc",
        "src/js/listen.cc",
        "src/js/notify.cc",
        "src/js/stream-handover.cc",
        "src/js/stream-options.cc",
        "src/js/stream-relay.cc",
        "src/js/transparent.cc",
        "src/stream/accept-gate.cc",
        "src/stream/connect.cc",
        "src/stream/connection.cc",
        "src/stream/event-queue.cc",
        "src/stream/handover.cc",
        "src/stream/histogram.cc",
        "src/stream/loop.cc",
        "src/stream/relay.cc",
        "src/stream/tune-socket.cc"
      ],
      "include_dirs": ["src", "<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
