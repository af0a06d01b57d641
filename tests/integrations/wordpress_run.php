<?php
// Runs docs/examples/wordpress.php and its usage as a WordPress plugin would, then prints the answer.
define('NOTIFIER_URL', getenv('NOTIFIER_URL'));
define('NOTIFIER_TOKEN', getenv('NOTIFIER_TOKEN'));
define('NOTIFIER_HMAC_SECRET', (string) getenv('NOTIFIER_HMAC_SECRET'));
require __DIR__ . '/wordpress_shim.php';
require $argv[1] . '/wordpress.php';

// What the chatbot collected (hostile text included: it must arrive as typed).
$conversation_id = 'conv-wp-1';
$name = 'Zoé <b>Martin</b>';
$email = 'zoe@example.com';
$message = "Rappelez-moi <script>alert(1)</script> & vite";
$page_url = 'https://shop.example.com/panier';

require $argv[1] . '/wordpress-usage.php';
echo json_encode($answer);
