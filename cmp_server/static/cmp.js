(function(){var c="__CMP_CONFIG__";window.cmp={config:c};})();
