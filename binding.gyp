{
  # -Ddmabuf_sanitize=1 (npm run test:asan builds that way, in build/asan/): AddressSanitizer and
  # UndefinedBehaviorSanitizer; any report aborts. vptr needs RTTI, which node-gyp turns off.
  # -Ddmabuf_v8_views=0: no V8 fast path (native/v8/). Otherwise it is built for the ABI of
  # the headers node-gyp builds against (node_module_version, from their config.gypi).
  'variables': {'dmabuf_sanitize%': 0, 'dmabuf_v8_views%': 1},  # not 'asan': Node's own config.gypi sets that
  'targets': [{
    'target_name': 'dmabuf',
    'conditions': [
      ['OS=="linux"', {
        'sources': [
          # registration, the one error factory, then one glue file per area
          'native/binding.cc',
          'native/constants.cc',
          'native/env.cc',
          'native/errors.cc',
          'native/fd.cc',
          'native/dmabuf.cc',
          'native/fence.cc',
          'native/mapping.cc',
          'native/socket.cc',
          'native/transfer.cc',
          'native/watcher.cc',
          'native/testing.cc',
          # plain syscalls, no Node headers
          'native/sys/fd.cc',
          'native/sys/dmabuf.cc',
          'native/sys/sync_file.cc',
          'native/sys/socket.cc',
          'native/sys/seam.cc',
        ],
        'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
        # _ALL: a stray std::exception (e.g. bad_alloc) becomes a JS Error, not an abort.
        # SWALLOW_UNTHROWABLE: an error raised while a worker is being terminated is
        # dropped; otherwise the failed napi_throw rethrows and std::terminate()s the process.
        'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS', 'NODE_ADDON_API_CPP_EXCEPTIONS_ALL',
                    'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS', 'NODE_ADDON_API_DISABLE_DEPRECATED'],
        'cflags': ['-Wall', '-Wextra'],
        'cflags!': ['-fno-exceptions'],
        'cflags_cc': ['-std=c++17', '-fexceptions', '-Wall', '-Wextra'],
        'cflags_cc!': ['-fno-exceptions', '-std=gnu++17'],
        'conditions': [
          ['dmabuf_sanitize==1', {
            'sources': ['native/sanitize.cc'],
            'cflags': ['-fsanitize=address,undefined', '-fno-sanitize=vptr', '-fno-sanitize-recover=all',
                       '-fno-omit-frame-pointer', '-g', '-O1'],
            'ldflags': ['-fsanitize=address,undefined'],
          }],
        ],
      }, {
        # The addon is Linux-only; elsewhere build nothing and let the loader report it.
        'type': 'none',
      }],
    ],
  }, {
    # The optional V8 fast path for views (native/v8/views.cc): V8 API, so one file per Node
    # ABI: build/Release/dmabuf-v8-abi<NODE_MODULE_VERSION>.so. Not .node: node-gyp-build (and
    # prebuildify) take the first .node file in build/Release for the main addon.
    'target_name': 'dmabuf_v8',
    'conditions': [
      ['OS=="linux" and dmabuf_v8_views==1 and node_module_version!=""', {
        # A shared library, not a loadable_module: node-gyp names every loadable_module .node.
        'type': 'shared_library',
        'product_name': 'dmabuf-v8-abi<(node_module_version)',
        'product_extension': 'so',
        'sources': ['native/v8/views.cc'],
        # C++20: Node 24's V8 headers require it.
        'cflags_cc': ['-std=c++20', '-Wall', '-Wextra'],
        'cflags_cc!': ['-std=gnu++17', '-std=gnu++20'],
        'conditions': [
          ['dmabuf_sanitize==1', {
            'cflags': ['-fsanitize=address,undefined', '-fno-sanitize=vptr', '-fno-sanitize-recover=all',
                       '-fno-omit-frame-pointer', '-g', '-O1'],
            'ldflags': ['-fsanitize=address,undefined'],
          }],
        ],
      }, {
        'type': 'none',
      }],
    ],
  }],
}
